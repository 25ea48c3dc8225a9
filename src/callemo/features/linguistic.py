"""Linguistic features (paper 001's text branch): Whisper decoder states pooled over the recognised tokens.

Paper 001 transcribes with Whisper and embeds the text with BERT. Offline and multilingual, this module
uses the Whisper decoder itself as the contextual text model:

1. the segment is brought to 16 kHz, turned into Whisper's log-mel input with ``pad_seconds`` (6 s) of
   silence after it (enough for the decoder to see where speech ends: with 1-3 s it often repeats the
   sentence; padding to Whisper's full 30 s window costs 4-8x the encoder time of a 3 s segment) and
   encoded by the CTranslate2 Whisper model (``model``: multilingual ``base`` by default, or ``tiny.en``;
   located by :func:`callemo.io.whisper_models.whisper_model_dir`, no download);
2. the language is detected on the encoder output (``language: null``) or given (``language: pl``);
3. the decoder transcribes greedily (beam 1, no timestamps, at most ``tokens_per_second`` x duration
   tokens; a transcript that ends in a loop, the same block of tokens over and over, keeps the first
   copy: :func:`first_cycle`); CTranslate2 returns the vocabulary logits of every decoding step
   (``return_logits_vocab``).
   Whisper's output layer is the tied token-embedding matrix ``E`` without bias, so the logits of a step
   are ``E h``: an exact linear image of the decoder's final hidden state ``h`` over the token being read.
   CTranslate2 does not expose ``h`` itself (its ``Whisper`` API has ``encode``, ``generate``, ``align`` and
   ``detect_language`` only);
4. the logits of every step are restricted to a fixed, seeded sample of ``n_probe`` (4096) text tokens
   that the decoder never masks (not in the model's ``suppress_ids``), centred over them (removing any
   log-partition shift) and projected by a fixed, seeded Gaussian
   matrix to ``proj_dim`` (512) dimensions: still a linear, almost surely injective image of ``h`` (the hidden
   state has 512 dimensions in ``base``, 384 in ``tiny.en``), at 1/100 of the vocabulary's size;
5. pooled over the steps: ``pool: mean`` (default, ``proj_dim`` features) or ``meanstd`` (``2 proj_dim``).

The representation is contextual (each state has read the audio and all earlier tokens) and multilingual,
and it costs one greedy decode: about 0.5 s CPU for a 3 s segment on one core with ``base`` (int8).
Segments longer than ``max_seconds`` (30 s) are decoded in consecutive windows, whose steps are pooled
together.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..io import resample
from ..io.whisper_models import WhisperModelError, whisper_model_dir
from .base import FeatureError, FeatureExtractor, register_extractor
from .whisper import WHISPER_SR, _load_model, _mel_extractor, whisper_windows

_POOLS = ("mean", "meanstd")
_TOKENIZERS: dict[str, Any] = {}
_PROJ: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
#: shortest repeated block (tokens) that :func:`first_cycle` cuts
MIN_PERIOD = 4
_LOCK = threading.Lock()


def _hf_tokenizer(path: str):
    with _LOCK:
        if path not in _TOKENIZERS:
            import tokenizers  # a dependency of faster-whisper

            try:
                _TOKENIZERS[path] = tokenizers.Tokenizer.from_file(f"{path}/tokenizer.json")
            except Exception as e:
                raise FeatureError(f"{path}: cannot read the Whisper tokenizer (tokenizer.json: {e})") from None
        return _TOKENIZERS[path]


def _suppressed(path: str) -> set[int]:
    """Token ids whose logits the decoder masks (``suppress_ids`` and ``suppress_ids_begin`` of config.json)."""
    try:
        cfg = json.loads(Path(path, "config.json").read_text())
    except (OSError, ValueError) as e:
        raise FeatureError(f"{path}: cannot read the Whisper model's config.json ({e})") from None
    return {int(i) for i in [*cfg.get("suppress_ids", []), *cfg.get("suppress_ids_begin", [])]}


def _projection(n_text: int, banned: frozenset[int], n_probe: int, dim: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The probe token ids (a seeded sample of the text tokens the decoder never masks) and the Gaussian
    projection ``(n_probe, dim)``."""
    key = (n_text, banned, n_probe, dim, seed)
    with _LOCK:
        if key not in _PROJ:
            rng = np.random.default_rng(seed)
            pool = np.setdiff1d(np.arange(n_text), np.fromiter(banned, int, len(banned)))
            ids = np.sort(rng.choice(pool, size=min(n_probe, len(pool)), replace=False))
            proj = (rng.standard_normal((len(ids), dim)) / np.sqrt(len(ids))).astype(np.float32)
            _PROJ[key] = (ids, proj)
        return _PROJ[key]


def first_cycle(ids: list[int]) -> int:
    """How many tokens to keep when greedy decoding fell into a loop: a sequence that ends by repeating
    a block of at least ``MIN_PERIOD`` tokens (twice or more, the last copy possibly cut short) keeps the
    block once; any other sequence is kept whole."""
    n = len(ids)
    for p in range(MIN_PERIOD, n // 2 + 1):
        s = n - p  # extend the periodic tail backwards as far as it goes
        while s > 0 and ids[s - 1] == ids[s - 1 + p]:
            s -= 1
        if n - s >= 2 * p:
            return s + p
    return n


@register_extractor("linguistic")
class LinguisticExtractor(FeatureExtractor):
    """Pooled Whisper decoder states over the greedily recognised tokens (see the module docstring)."""

    version = 1

    def __init__(self, sample_rate: int = 16000, model: str = "base", language: str | None = None,
                 pool: str = "mean", proj_dim: int = 512, n_probe: int = 4096, seed: int = 0, pad_seconds: float = 6.0,
                 max_seconds: float = 30.0, tokens_per_second: float = 25.0, compute_type: str = "int8"):
        super().__init__(sample_rate)
        if pool not in _POOLS:
            raise FeatureError(f"linguistic: pool must be one of {list(_POOLS)}, not {pool!r}")
        if model not in ("base", "tiny.en"):
            raise FeatureError(f"linguistic: model must be 'base' or 'tiny.en', not {model!r}")
        lang = None if language in (None, "", "auto") else str(language).lower()
        if model == "tiny.en" and lang not in (None, "en"):
            raise FeatureError(f"linguistic: the tiny.en model is English only (language {language!r})")
        if lang is not None:
            from faster_whisper.tokenizer import _LANGUAGE_CODES

            if lang not in _LANGUAGE_CODES:
                raise FeatureError(f"linguistic: unknown language {language!r} (null = detect, or a Whisper code "
                                   "such as 'en', 'pl')")
        self.model = model
        self.language = lang
        self.pool = pool
        self.proj_dim = int(proj_dim)
        self.n_probe = int(n_probe)
        self.seed = int(seed)
        self.pad_seconds = float(min(max(pad_seconds, 0.5), 30.0))
        self.max_seconds = float(min(max(max_seconds, 1.0), 30.0))
        self.tokens_per_second = float(tokens_per_second)
        self.compute_type = str(compute_type)

    def params(self) -> dict[str, Any]:
        p = super().params()
        p.update(model=self.model, language=self.language, pool=self.pool, proj_dim=self.proj_dim, n_probe=self.n_probe,
                 seed=self.seed, pad_seconds=self.pad_seconds, max_seconds=self.max_seconds,
                 tokens_per_second=self.tokens_per_second, compute_type=self.compute_type)
        return p

    @property
    def feature_names(self) -> list[str]:
        stats = ["mean"] if self.pool == "mean" else ["mean", "std"]
        return [f"linguistic_{s}_{k}" for s in stats for k in range(self.proj_dim)]

    # -- model --------------------------------------------------------------------------------
    def _path(self) -> str:
        try:
            return str(whisper_model_dir(self.model))
        except WhisperModelError as e:
            raise FeatureError(f"linguistic: {e}") from None

    def decode(self, x16: np.ndarray) -> tuple[str, list[int], np.ndarray]:
        """Greedy transcript of one 16 kHz window: ``(language, token ids, logits (steps, vocab))``."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        path = self._path()
        model = _load_model(path, self.compute_type, "cpu")
        fe = _mel_extractor(int(getattr(model, "n_mels", 80) or 80))
        x16 = np.asarray(x16, np.float32)
        n = min(len(x16) + int(self.pad_seconds * WHISPER_SR), 30 * WHISPER_SR)
        mel = fe(x16[: 30 * WHISPER_SR], padding=n - min(len(x16), 30 * WHISPER_SR) + 160)
        frames = min((n // 160) // 2 * 2, 3000)
        mel = np.ascontiguousarray(mel[None, :, :frames], dtype=np.float32)
        enc = model.encode(ctranslate2.StorageView.from_array(mel))
        multilingual = bool(model.is_multilingual)
        lang = "en"
        if multilingual:
            lang = self.language or str(model.detect_language(enc)[0][0][0]).strip("<|>")
        tok = Tokenizer(_hf_tokenizer(path), multilingual, task="transcribe", language=lang if multilingual else None)
        prompt = [*tok.sot_sequence, tok.no_timestamps]
        max_new = 4 + int(np.ceil(self.tokens_per_second * len(x16) / WHISPER_SR))
        r = model.generate(enc, [prompt], beam_size=1, return_logits_vocab=True, max_length=max_new)[0]
        logits = np.asarray(r.logits[0], dtype=np.float32)
        ids = list(r.sequences_ids[0])
        keep = first_cycle(ids)
        if keep < len(ids):  # a loop: the states of the first cycle only (and no end-of-text step)
            ids, logits = ids[:keep], logits[:keep]
        return lang, ids, logits

    def _process(self, x: np.ndarray) -> np.ndarray:
        x16 = resample(np.asarray(x, np.float32), self.sample_rate, WHISPER_SR)
        steps = [self.decode(chunk)[2] for chunk in whisper_windows(x16, self.max_seconds, min_tail=0.5)]
        L = np.concatenate(steps, axis=0)
        path = self._path()
        eot = int(_hf_tokenizer(path).token_to_id("<|endoftext|>"))  # the text tokens come before it
        ids, proj = _projection(eot, frozenset(_suppressed(path)), self.n_probe, self.proj_dim, self.seed)
        Lp = L[:, ids].astype(np.float64)
        H = (Lp - Lp.mean(axis=1, keepdims=True)) @ proj  # (steps, proj_dim): a linear image of the states
        parts = [H.mean(axis=0)] if self.pool == "mean" else [H.mean(axis=0), H.std(axis=0)]
        return np.concatenate(parts).astype(np.float32)
