import pytest
import torch

from deltalab.models.ssl.clip import (
    CLIP,
    HELD_OUT_TEMPLATES,
    TRAIN_TEMPLATES,
    CLIPConfig,
    caption,
    digit_tokenizer,
    train_clip,
)
from deltalab.models.ssl.tokenizer import WordTokenizer


def test_tokenizer_pads_and_masks():
    tok = WordTokenizer(["a", "b", "c"])
    ids, mask = tok.encode(["a b", "C"])
    assert ids.tolist() == [[1, 2], [3, 0]] and mask.tolist() == [[True, True], [True, False]]


def test_unknown_word_lists_the_vocabulary():
    tok = WordTokenizer(["cat", "dog"])
    with pytest.raises(ValueError, match=r"unknown word.*'bird'.*vocabulary is: cat dog"):
        tok.encode(["a bird"])
    with pytest.raises(ValueError, match="single string"):
        tok.encode("cat")


def test_every_template_is_in_the_vocabulary_and_held_out_phrasings_are_new():
    tok = digit_tokenizer()
    texts = [
        caption(c, t, n)
        for t in TRAIN_TEMPLATES + HELD_OUT_TEMPLATES
        for c in range(10)
        for n in (False, True)
    ]
    tok.encode(texts)
    assert not set(TRAIN_TEMPLATES) & set(HELD_OUT_TEMPLATES)
    train_words = {w for t in TRAIN_TEMPLATES for w in t.split()}
    assert all(w in train_words for t in HELD_OUT_TEMPLATES for w in t.split() if w != "{}")


def test_clip_embeddings_are_unit_norm_and_loss_decreases():
    torch.manual_seed(0)
    model = CLIP(digit_tokenizer(), embed_dim=16)
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(model.encode_image(x).norm(dim=1), torch.ones(4), atol=1e-5)
    assert model.encode_text(["a handwritten 3", "the number seven"]).shape == (2, 16)
    y = torch.arange(40) % 10
    xs = torch.rand(40, 1, 8, 8) * 0.1 + y.view(-1, 1, 1, 1) / 10
    losses = train_clip(model, xs, y, CLIPConfig(steps=40, batch_size=16))
    assert sum(losses[-5:]) < sum(losses[:5])


def test_logit_scale_is_clamped():
    model = CLIP(digit_tokenizer(), init_temperature=1e-4, max_logit_scale=100)
    assert model.logit_scale.item() == pytest.approx(100)


def test_bad_inputs_raise_with_the_value():
    model = CLIP(digit_tokenizer())
    with pytest.raises(ValueError, match=r"\(2, 64\)"):
        model.encode_image(torch.rand(2, 64))
    with pytest.raises(ValueError, match="12"):
        caption(12, TRAIN_TEMPLATES[0], False)
