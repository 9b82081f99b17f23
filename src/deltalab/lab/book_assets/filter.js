(function () {
  var q = document.getElementById("q"), v = document.getElementById("v"), n = document.getElementById("n");
  function apply() {
    var text = q.value.toLowerCase(), verdict = v.value, shown = 0;
    document.querySelectorAll("section.chapter").forEach(function (sec) {
      var any = false;
      sec.querySelectorAll("tr[data-verdict]").forEach(function (tr) {
        var ok = (!verdict || tr.dataset.verdict === verdict) && tr.textContent.toLowerCase().indexOf(text) >= 0;
        tr.classList.toggle("hidden", !ok);
        if (ok) { any = true; shown += 1; }
      });
      sec.classList.toggle("hidden", !any);
    });
    n.textContent = shown + " shown";
  }
  q.addEventListener("input", apply);
  v.addEventListener("change", apply);
  apply();
})();
