"""GRU encoder–decoder, with or without attention over the encoder states.

Papers: Sutskever, Vinyals & Le, "Sequence to Sequence Learning with Neural Networks"
(arXiv:1409.3215) and Cho et al. (arXiv:1406.1078) for the plain encoder–decoder, whose decoder sees
the source only through the encoder's last state; Luong, Pham & Manning, "Effective Approaches to
Attention-based Neural Machine Translation" (arXiv:1508.04025) for global attention:

    H_enc = BiGRU(emb(x)),  s_0 = [h_fwd; h_bwd]         encoder states; decoder start
    s_t = GRU(s_{t−1}, emb(y_{t−1}))                      decoder state (the query)
    c_t = softmax(W_q s_t · H_encᵀ / √d) H_enc            encoder states are keys and values
    p(y_t) = softmax(W_o tanh(W_c [s_t; c_t]))

Training uses teacher forcing (the decoder reads the true previous token); ``greedy`` decodes by
feeding back its own argmax. The attention itself is ``F.scaled_dot_product_attention``.

Departures: the encoder is bidirectional (as in Bahdanau et al., arXiv:1409.0473) for both models;
no input feeding (c_{t−1} is not fed to the decoder), so that the teacher-forced decoder
runs as one ``nn.GRU`` call; a learned projection W_q on the query (Luong's "general" score).

Legend: B batch, S source length, T target length, H hidden units, V vocabulary.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from deltalab.nn.shapes import check_integer, check_shape


class Seq2Seq(nn.Module):
    """src (B, S) long, tgt_in (B, T) long (BOS first) -> logits (B, T, V)."""

    def __init__(
        self, vocab: int, hidden_size: int = 64, embed_dim: int = 32, attention: bool = True
    ) -> None:
        super().__init__()
        if vocab < 2 or hidden_size < 1 or embed_dim < 1:
            raise ValueError(
                f"need vocab >= 2, hidden_size >= 1, embed_dim >= 1, got {vocab}, {hidden_size}, {embed_dim}"
            )
        self.vocab, self.bos, self.attention = vocab, vocab, attention
        self.src_embed = nn.Embedding(vocab, embed_dim)
        self.tgt_embed = nn.Embedding(vocab + 1, embed_dim)  # + BOS
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (two encoder directions of H/2), got {hidden_size}")
        self.encoder = nn.GRU(embed_dim, hidden_size // 2, batch_first=True, bidirectional=True)
        self.decoder = nn.GRU(embed_dim, hidden_size, batch_first=True)
        if attention:
            self.query = nn.Linear(hidden_size, hidden_size, bias=False)
            self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_shape(src, "src token ids", ("B", "S"))
        check_integer(src, "src token ids", self.vocab)
        enc, h = self.encoder(self.src_embed(src))  # (B, S, H), (2, B, H/2)
        return enc, torch.cat([h[0], h[1]], -1).unsqueeze(0)  # (B, S, H), (1, B, H)

    def _readout(self, dec: torch.Tensor, enc: torch.Tensor) -> torch.Tensor:
        if not self.attention:
            return self.out(dec)
        ctx = F.scaled_dot_product_attention(self.query(dec), enc, enc)  # (B, T, H)
        return self.out(torch.tanh(self.combine(torch.cat([dec, ctx], -1))))  # (B, T, V)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        enc, h = self.encode(src)
        check_shape(tgt_in, "tgt_in token ids", (src.shape[0], "T"))
        check_integer(tgt_in, "tgt_in token ids", self.vocab + 1)  # + BOS
        dec, _ = self.decoder(self.tgt_embed(tgt_in), h)  # (B, T, H)
        return self._readout(dec, enc)

    def teacher_inputs(self, tgt: torch.Tensor) -> torch.Tensor:
        """BOS followed by the target shifted right: (B, T) -> (B, T)."""
        return torch.cat([torch.full_like(tgt[:, :1], self.bos), tgt[:, :-1]], dim=1)

    @torch.no_grad()
    def greedy(self, src: torch.Tensor, length: int) -> torch.Tensor:
        """Decode ``length`` tokens feeding back the argmax: src (B, S) -> (B, length)."""
        enc, h = self.encode(src)
        tok = torch.full((src.shape[0], 1), self.bos, dtype=torch.long, device=src.device)
        out = []
        for _ in range(length):
            dec, h = self.decoder(self.tgt_embed(tok), h)  # (B, 1, H)
            tok = self._readout(dec, enc).argmax(-1)  # (B, 1)
            out.append(tok)
        return torch.cat(out, dim=1)
