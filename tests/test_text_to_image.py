"""Text-to-image (claim text-to-image): guidance arithmetic, conditioning dropout, prompts, caching."""

from __future__ import annotations

import pytest
import torch

from deltalab.models import text_to_image as t2i
from deltalab.models.diffusion import NoiseSchedule
from deltalab.models.ssl.clip import DIGIT_WORDS
from deltalab.models.text_to_image import (
    GuidedUNet,
    TextToImageConfig,
    decoder_loss,
    drop_mask,
    generate,
    grid_canvas,
    guided_eps,
    prior_captions,
    sample_guided,
    save_grid,
)

TINY = TextToImageConfig(clip_steps=2, decoder_steps=2, prior_steps=2, batch_size=8, sample_steps=2)


def test_guided_eps_arithmetic():
    c, u = torch.tensor([3.0, -1.0]), torch.tensor([1.0, 1.0])
    torch.testing.assert_close(guided_eps(c, u, 0.0), u)
    torch.testing.assert_close(guided_eps(c, u, 1.0), c)
    torch.testing.assert_close(guided_eps(c, u, 3.0), torch.tensor([7.0, -5.0]))  # u + 3(c − u)


def test_sampler_uses_guided_combination():
    """With a decoder whose ε is a known function of cond, the sampler must see ε_u + w(ε_c − ε_u)."""
    seen: list[torch.Tensor] = []

    class Probe(torch.nn.Module):
        def forward(self, x, t, cond):
            seen.append(cond.clone())
            return cond[:, :1, None, None].expand(-1, 1, 8, 8)  # ε = first cond coordinate

    cond = torch.full((3, 4), 0.5)
    out = sample_guided(Probe(), NoiseSchedule(), cond, 4.0, 1, torch.Generator().manual_seed(0))
    assert seen[0].shape == (6, 4) and (seen[0][3:] == 0).all()  # (cond, ∅) in one call
    assert out.shape == (3, 1, 8, 8) and out.min() >= 0 and out.max() <= 1
    ref = torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    eps = guided_eps(torch.tensor(0.5), torch.tensor(0.0), 4.0)  # 2.0
    ab = NoiseSchedule().alpha_bars[-1].item()
    x0 = ((ref - (1 - ab) ** 0.5 * eps) / ab**0.5).clamp(-1, 1)
    torch.testing.assert_close(out, (x0 + 1) / 2)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_drop_mask_rate(p):
    m = drop_mask(200_000, p, torch.Generator().manual_seed(1))
    assert m.dtype == torch.bool and abs(m.float().mean().item() - p) < 0.005


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_drop_mask_rejects_bad_rate(p):
    with pytest.raises(ValueError, match=str(p)):
        drop_mask(4, p)
    with pytest.raises(ValueError, match="p_uncond"):
        TextToImageConfig(p_uncond=p)


def test_zero_row_is_the_null_embedding():
    torch.manual_seed(0)
    net = GuidedUNet(base_channels=8, time_embed_dim=16, cond_dim=4)
    with torch.no_grad():
        net.null_cond.normal_()
    t = torch.tensor([5, 500])
    cond = torch.stack([torch.zeros(4), torch.randn(4)])
    emb = net.embed(t, cond)
    torch.testing.assert_close(emb[:1], net.embed(t[:1], None))
    torch.testing.assert_close(emb[1:], UNetEmbed(net, t[1:], cond[1:]))


def UNetEmbed(net, t, cond):  # noqa: N802 — the parent class's embedding, for reference
    return super(GuidedUNet, net).embed(t, cond)


def test_decoder_loss_dropout_trains_the_null_embedding():
    torch.manual_seed(0)
    net = GuidedUNet(base_channels=8, time_embed_dim=16, cond_dim=4)
    with torch.no_grad():
        net.out[-1].weight.normal_()  # zero-initialized: no gradient would reach the embedding
    x0, cond = torch.rand(6, 1, 8, 8) * 2 - 1, torch.randn(6, 4)
    for drop, null_grad in (
        (torch.zeros(6, dtype=torch.bool), False),
        (torch.ones(6, dtype=torch.bool), True),
    ):
        net.zero_grad()
        decoder_loss(net, NoiseSchedule(), x0, cond, drop).backward()
        assert (net.null_cond.grad is not None and net.null_cond.grad.abs().sum() > 0) == null_grad
        proj = net.cond_proj.weight.grad
        assert (proj is not None and proj.abs().sum() > 0) == (not null_grad)


def test_prior_captions_keep_the_digit_word():
    labels, texts = prior_captions(3, torch.Generator().manual_seed(0))
    assert len(labels) == len(texts) == 10 * 6 * 2 * 4
    for c, text in zip(labels, texts, strict=True):
        words = text.split()
        assert DIGIT_WORDS[c] in words or str(c) in words


def test_bad_prompt_lists_the_vocabulary_before_training(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown word\(s\) \['banana'\].*vocabulary is:.*seven"):
        generate("a photo of the digit banana")
    with pytest.raises(ValueError, match="empty"):
        generate("   ")
    assert not any(tmp_path.rglob("*"))  # nothing trained or written


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # torch reading the corrupt file below
def test_generate_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    a = generate("a handwritten digit seven", n=3, guidance=2.0, progress=False, cfg=TINY)
    assert a.shape == (3, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    assert len(list((tmp_path / "deltalab").glob("text-to-image-*.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("should have loaded the cached weights")

    monkeypatch.setattr(t2i, "build_text_to_image", no_training)
    b = generate("a handwritten digit seven", n=3, guidance=2.0, progress=False, cfg=TINY)
    torch.testing.assert_close(a, b)
    for kw in (
        {"guidance": -1.0},
        {"guidance": float("nan")},
        {"guidance": float("inf")},
        {"n": 100000},
        {"n": 0},
    ):
        with pytest.raises(ValueError, match="guidance|n must"):
            generate("the number 3", **{"n": 3, "guidance": 2.0, **kw}, progress=False, cfg=TINY)
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (weights,) = (tmp_path / "deltalab").glob("text-to-image-*.pt")
    weights.write_bytes(b"\x80\x04not a pickle")  # corrupt: UnpicklingError
    with pytest.warns(UserWarning, match="unreadable"):
        c = generate("a handwritten digit seven", n=3, guidance=2.0, progress=False, cfg=TINY)
    torch.testing.assert_close(a, c)  # rebuilt, the same model (same seed), and rewritten
    assert t2i.load_or_train(TINY).state_dict().keys() and weights.stat().st_size > 100
    assert [p.name for p in (tmp_path / "deltalab").iterdir()] == [weights.name]


def test_cli_sample_cap_is_the_models():
    from deltalab.cli import MAX_GENERATE

    assert MAX_GENERATE == t2i.MAX_SAMPLES


def test_save_grid_is_atomic_png(tmp_path):
    out = save_grid(torch.rand(10, 1, 8, 8), tmp_path / "grid.png", ncols=4)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
    assert grid_canvas(torch.rand(10, 1, 8, 8), 4).shape == (3 * 9 + 1, 4 * 9 + 1)
    with pytest.raises(ValueError, match=r"\(10, 64\)"):
        save_grid(torch.rand(10, 64), tmp_path / "bad.png")


def test_diversity_helpers():
    from deltalab.experiments.text_to_image import diversity_ratio, mean_pairwise_distance, pick_per_class

    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert mean_pairwise_distance(x) == pytest.approx(10 / 3)  # pairs: 5, 0, 5
    real, y = torch.rand(20, 1, 8, 8), torch.arange(2).repeat(10)
    assert diversity_ratio(real, y, real, y) == pytest.approx(1.0)
    copies = real[:1].expand(6, -1, -1, -1)
    assert diversity_ratio(copies, torch.zeros(6, dtype=torch.long), real, y) == 0.0
    idx = pick_per_class(torch.arange(10).repeat(5), 3, torch.Generator().manual_seed(0))
    assert (
        idx.shape == (30,)
        and (torch.arange(10).repeat(5)[idx] == torch.arange(10).repeat_interleave(3)).all()
    )
