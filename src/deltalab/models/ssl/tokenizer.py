"""A word-level tokenizer over a tiny fixed vocabulary (CLIP's captions for digits).

Radford et al. (CLIP, arXiv:2103.00020) use a 49k-token byte-pair encoding; captions about 8×8
digits need a few dozen words, so words are split on whitespace, lower-cased and looked up in a
closed vocabulary. An unknown word is an error that lists the vocabulary (never a silent <unk>).
Index 0 is padding. Shapes: B texts, L = longest text in words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

PAD = "<pad>"


class WordTokenizer:
    """``encode(texts)`` → (ids (B, L) int64, mask (B, L) bool, True on real words)."""

    def __init__(self, vocab: Iterable[str]) -> None:
        words = sorted({w.lower() for w in vocab})
        if not words:
            raise ValueError("vocab must hold at least one word, got none")
        if PAD in words:
            raise ValueError(f"{PAD!r} is reserved for padding, found it in vocab")
        self.vocab = [PAD, *words]
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> WordTokenizer:
        """The vocabulary of every word that occurs in ``texts``."""
        return cls(w for t in texts for w in t.lower().split())

    def tokenize(self, text: str) -> list[int]:
        words = text.lower().split()
        if not words:
            raise ValueError(f"cannot tokenize an empty text, got {text!r}")
        unknown = [w for w in words if w not in self.index]
        if unknown:
            raise ValueError(
                f"unknown word(s) {unknown} in {text!r}; the vocabulary is: {' '.join(self.vocab[1:])}"
            )
        return [self.index[w] for w in words]

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(texts, str):
            raise ValueError(f"encode takes a list of texts, got the single string {texts!r}")
        rows = [self.tokenize(t) for t in texts]
        length = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        return ids, ids != 0
