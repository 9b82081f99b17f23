"""mnist1d-table: the quick rows that differ from the notebook's models are named."""

from deltalab.experiments.mnist1d_table import NOTEBOOK_WIDTH, RowConfig, model_note, row_configs


def test_model_note_names_rows_that_differ_from_the_notebook():
    assert model_note("cnn", RowConfig("mnist1d-cnn", 10, 10)) == ""
    assert model_note("gru", RowConfig("mnist1d-gru", 10, 10, width=NOTEBOOK_WIDTH["gru"])) == ""
    assert model_note("cnn", RowConfig("mnist1d-cnn", 10, 10, width=64)) == "64 channels, notebook 25"
    quick = {n: model_note(n, r) for n, r in row_configs(quick=True).items()}
    assert quick == {
        "logistic": "",
        "mlp": "",
        "cnn": "64 channels, notebook 25",
        "gru": "16 hidden units, notebook 6",
    }
    assert not any(model_note(n, r) for n, r in row_configs(quick=False).items())
