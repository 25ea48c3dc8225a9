"""The project's own prosodic and spectral functionals (no openSMILE needed).

One short-time analysis (25 ms Hann window, 10 ms hop) gives a power spectrogram, from which
come the log-mel bands, MFCCs and spectral descriptors. F0 comes from a fast normalised
autocorrelation tracker on a 8 kHz copy of the signal (40 ms windows, Boersma's window
correction, voicing by periodicity and energy, octave-jump repair), which also gives an HNR
estimate. Each low-level descriptor is summarised by functionals (mean, std, percentiles,
slope...), eGeMAPS-style. Runs well over 50x real time on one core.

Feature groups (names are prefixed by group):

* ``f0_``: F0 in semitones re 27.5 Hz over voiced frames: mean, ``f0_std_semitones``,
  percentiles 10/50/90, range, slope, mean rise / fall of voiced deltas, voiced ratio, jitter proxy;
* ``energy_``/``loud_``: frame level in dB and a loudness proxy, stats, slope, shimmer proxy;
* ``hnr_``: harmonics-to-noise ratio from the autocorrelation peak;
* ``rate_``: voiced-segment rate, mean voiced/unvoiced segment lengths, pause ratio, syllable-peak rate;
* ``spec_``: centroid, spread, flux, flatness, rolloff, entropy, slope (over active frames);
* ``band_``: alpha ratio, Hammarberg index, relative band energies;
* ``mfcc``/``dmfcc``: MFCC 0-13 and their deltas, mean and std (active frames), MFCC means over
  voiced frames;
* ``mel``: log-mel band mean and std.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.fft import dct, irfft, rfft

from ..io import resample
from .base import FeatureExtractor, register_extractor

_EPS = 1e-10


@lru_cache(maxsize=16)
def _mel_fb(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=True).astype(np.float32)


@lru_cache(maxsize=16)
def _hann(n: int) -> np.ndarray:
    return np.hanning(n + 2)[1:-1].astype(np.float32)


def frame_signal(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """(frames, win) view of ``x`` (zero-padded to at least one frame, centred)."""
    pad = win // 2
    x = np.pad(x, (pad, pad))
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n = 1 + (len(x) - win) // hop
    return np.lib.stride_tricks.as_strided(x, shape=(n, win), strides=(x.strides[0] * hop, x.strides[0]),
                                           writeable=False)


def track_f0(x: np.ndarray, sr: int, *, fmin: float = 60.0, fmax: float = 500.0, hop_s: float = 0.01,
             win_s: float = 0.04, voicing_threshold: float = 0.45, silence_db: float = 40.0):
    """Fast autocorrelation F0 tracker.

    Returns ``(f0_hz, periodicity, frame_db)`` per 10 ms frame; ``f0_hz`` is 0 where unvoiced and
    ``periodicity`` is the normalised autocorrelation peak in [0, 1] (an HNR proxy).
    """
    psr = 8000
    if sr != psr:
        x = resample(x, sr, psr, quality="MQ") if sr > psr else resample(x, sr, psr)
    win = int(round(win_s * psr))
    hop = int(round(hop_s * psr))
    fr = frame_signal(np.asarray(x, np.float32), win, hop)
    fr = fr - fr.mean(axis=1, keepdims=True)
    w = _hann(win)
    frw = fr * w
    nfft = 1
    while nfft < 2 * win:
        nfft *= 2
    spec = rfft(frw, nfft, axis=1)
    ac = irfft(np.abs(spec) ** 2, nfft, axis=1)[:, :win]
    wac = irfft(np.abs(rfft(w, nfft)) ** 2, nfft)[:win]
    ac = ac / np.maximum(wac, _EPS) * wac[0]
    e = ac[:, 0]
    r = ac / np.maximum(e[:, None], _EPS)
    lo = max(2, int(psr / fmax))
    hi = min(win - 2, int(psr / fmin) + 1)
    seg = r[:, lo:hi]
    best = seg.max(axis=1)
    # prefer the shortest lag whose peak is close to the best (avoids sub-harmonic errors)
    ok = seg >= 0.88 * best[:, None]
    # local maxima only
    locmax = np.zeros_like(ok)
    locmax[:, 1:-1] = (seg[:, 1:-1] >= seg[:, :-2]) & (seg[:, 1:-1] >= seg[:, 2:])
    cand = ok & locmax
    has = cand.any(axis=1)
    idx = np.where(has, cand.argmax(axis=1), seg.argmax(axis=1))
    # parabolic interpolation
    i = np.clip(idx, 1, seg.shape[1] - 2)
    rows = np.arange(len(seg))
    a, b, c = seg[rows, i - 1], seg[rows, i], seg[rows, i + 1]
    den = a - 2 * b + c
    delta = np.where(np.abs(den) > _EPS, 0.5 * (a - c) / np.where(np.abs(den) > _EPS, den, 1.0), 0.0)
    lag = lo + i + np.clip(delta, -1, 1)
    peak = np.clip(b - 0.25 * (a - c) * delta, 0.0, 1.0)
    f0 = psr / lag
    db = 10 * np.log10(e / win + _EPS)
    active = db > (np.max(db) - silence_db) if len(db) else db > 0
    voiced = (peak >= voicing_threshold) & active & has
    # remove isolated voiced frames
    v = voiced.copy()
    if len(v) > 2:
        iso = v[1:-1] & ~v[:-2] & ~v[2:]
        v[1:-1] &= ~iso
    f0 = np.where(v, f0, 0.0)
    # octave-jump repair against the utterance median
    if v.sum() >= 3:
        st = 12 * np.log2(f0[v])
        med = np.median(st)
        st = np.where(st - med > 9, st - 12, st)
        st = np.where(med - st > 9, st + 12, st)
        f0[v] = 2 ** (st / 12)
        # 3-frame median smoothing inside voiced runs
        g = f0.copy()
        inner = v[1:-1] & v[:-2] & v[2:]
        m3 = np.median(np.stack([f0[:-2], f0[1:-1], f0[2:]]), axis=0)
        g[1:-1] = np.where(inner, m3, f0[1:-1])
        f0 = g
    return f0.astype(np.float32), peak.astype(np.float32), db.astype(np.float32)


def normalise_level(x: np.ndarray, sr: int, target_db: float = -20.0) -> np.ndarray:
    """Scale ``x`` so that its active frames (within 40 dB of the loudest) have RMS ``target_db``.

    Recording level depends on the microphone, the distance, gain control and the corpus's own
    post-processing (nEMO is loudness-normalised per file), so absolute level does not transfer
    across recordings; level *dynamics* within a segment are kept.
    """
    hop = max(1, int(0.01 * sr))
    n = len(x) // hop
    if n < 1:
        return x
    p = (x[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1)
    db = 10 * np.log10(p + _EPS)
    act = p[db > db.max() - 40.0]
    rms = float(np.sqrt(act.mean())) if len(act) else 0.0
    if rms <= 1e-7:
        return x
    return (x * (10 ** (target_db / 20) / rms)).astype(np.float32)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of True runs and of False runs (in frames)."""
    if len(mask) == 0:
        return np.zeros(0), np.zeros(0)
    m = mask.astype(np.int8)
    d = np.diff(np.concatenate([[0], m, [0]]))
    starts, ends = np.where(d == 1)[0], np.where(d == -1)[0]
    on = ends - starts
    dn = np.diff(np.concatenate([[1], m, [1]]))
    s2, e2 = np.where(dn == -1)[0], np.where(dn == 1)[0]
    off = e2 - s2
    return on.astype(float), off.astype(float)


def _slope(y: np.ndarray, t: np.ndarray) -> float:
    if len(y) < 3:
        return 0.0
    t = t - t.mean()
    den = float(np.dot(t, t))
    return float(np.dot(t, y - y.mean()) / den) if den > 0 else 0.0


def _stats(y: np.ndarray, pct=(10, 50, 90)) -> list[float]:
    if len(y) == 0:
        return [0.0] * (2 + len(pct))
    return [float(np.mean(y)), float(np.std(y))] + [float(v) for v in np.percentile(y, pct)]


@register_extractor("prosody")
class ProsodyExtractor(FeatureExtractor):
    """Prosodic + spectral functionals of the project's own (no openSMILE)."""

    version = 3

    def __init__(self, sample_rate: int = 16000, n_mels: int = 26, n_mfcc: int = 14, fmin: float = 60.0,
                 fmax: float = 500.0, level_norm: bool = True):
        super().__init__(sample_rate)
        self.level_norm = bool(level_norm)
        self.n_mels = int(n_mels)
        self.n_mfcc = int(n_mfcc)
        self.fmin = float(fmin)
        self.fmax = float(fmax)
        self._names = self._make_names()

    def params(self) -> dict[str, Any]:
        p = super().params()
        p.update(n_mels=self.n_mels, n_mfcc=self.n_mfcc, fmin=self.fmin, fmax=self.fmax, level_norm=self.level_norm)
        return p

    # ------------------------------------------------------------------------------------
    def _make_names(self) -> list[str]:
        n = []
        n += ["f0_mean_semitones", "f0_std_semitones", "f0_p10", "f0_p50", "f0_p90", "f0_range",
              "f0_slope", "f0_rise_mean", "f0_fall_mean", "f0_delta_std", "f0_voiced_ratio", "f0_jitter"]
        n += ["energy_mean_db", "energy_std_db", "energy_p10", "energy_p50", "energy_p90", "energy_range",
              "energy_slope", "energy_delta_std", "energy_voiced_mean", "energy_unvoiced_mean",
              "loud_mean", "loud_std", "loud_p20", "loud_p80", "loud_peak_rate", "loud_shimmer_db"]
        n += ["hnr_mean_db", "hnr_std_db", "hnr_p90", "periodicity_mean"]
        n += ["rate_voiced_segments_per_s", "rate_voiced_len_mean", "rate_voiced_len_std",
              "rate_unvoiced_len_mean", "rate_pause_ratio", "rate_pauses_per_s"]
        for d in ("centroid", "spread", "flux", "flatness", "rolloff85", "entropy", "slope", "zcr"):
            n += [f"spec_{d}_mean", f"spec_{d}_std"]
        n += ["spec_centroid_voiced", "spec_slope_voiced", "spec_flux_voiced"]
        n += ["band_alpha_ratio", "band_alpha_ratio_voiced", "band_hammarberg", "band_hammarberg_voiced"]
        n += [f"band_rel_{k}" for k in range(6)]
        n += [f"band_rel_std_{k}" for k in range(6)]
        n += [f"mfcc{k}_mean" for k in range(self.n_mfcc)] + [f"mfcc{k}_std" for k in range(self.n_mfcc)]
        n += [f"dmfcc{k}_mean_abs" for k in range(self.n_mfcc)] + [f"dmfcc{k}_std" for k in range(self.n_mfcc)]
        n += [f"mfcc{k}_voiced_mean" for k in range(self.n_mfcc)] + [f"mfcc{k}_voiced_std" for k in range(self.n_mfcc)]
        n += [f"mel{k}_mean" for k in range(self.n_mels)] + [f"mel{k}_std" for k in range(self.n_mels)]
        n += [f"mel{k}_p90" for k in range(self.n_mels)]
        return n

    @property
    def feature_names(self) -> list[str]:
        return list(self._names)

    # ------------------------------------------------------------------------------------
    def _process(self, x: np.ndarray) -> np.ndarray:
        sr = self.sample_rate
        hop_s = 0.01
        x = np.asarray(x, np.float32)
        if len(x) < int(0.05 * sr):
            x = np.pad(x, (0, int(0.05 * sr) - len(x)))
        dur = len(x) / sr
        if self.level_norm:
            x = normalise_level(x, sr)
        f0, per, _ = track_f0(x, sr, fmin=self.fmin, fmax=self.fmax, hop_s=hop_s)

        win = int(round(0.025 * sr))
        hop = int(round(hop_s * sr))
        nfft = 1
        while nfft < win:
            nfft *= 2
        fr = frame_signal(x, win, hop)
        fr = fr - fr.mean(axis=1, keepdims=True)
        P = np.abs(rfft(fr * _hann(win), nfft, axis=1)) ** 2  # (T, F)
        T = min(len(P), len(f0))
        P, f0, per = P[:T], f0[:T], per[:T]
        frs = fr[:T]
        freqs = np.arange(P.shape[1]) * sr / nfft
        voiced = f0 > 0
        pw = P.sum(axis=1) + _EPS
        db = 10 * np.log10(pw / nfft + _EPS)
        active = db > (db.max() - 40.0)
        if active.sum() < 3:
            active = np.ones(T, bool)
        t = np.arange(T) * hop_s
        feats: list[float] = []

        # ---- F0 ----
        if voiced.sum() >= 2:
            st = 12 * np.log2(f0[voiced] / 27.5)
            d = np.diff(st)
            # deltas only between adjacent voiced frames
            adj = np.diff(np.where(voiced)[0]) == 1
            d = d[adj]
            rise = d[d > 0].mean() if (d > 0).any() else 0.0
            fall = d[d < 0].mean() if (d < 0).any() else 0.0
            per_s = 1.0 / f0[voiced]
            pd = np.abs(np.diff(per_s))[adj]
            jitter = float(pd.mean() / per_s.mean()) if len(pd) else 0.0
            p10, p50, p90 = np.percentile(st, [10, 50, 90])
            feats += [st.mean(), st.std(), p10, p50, p90, p90 - p10, _slope(st, t[voiced]), rise, fall,
                      float(d.std()) if len(d) else 0.0, voiced.mean(), jitter]
        else:
            feats += [0.0] * 10 + [float(voiced.mean()), 0.0]

        # ---- energy / loudness ----
        dba = db[active]
        e = _stats(dba)
        unvoiced = active & ~voiced
        feats += [*e, e[4] - e[2], _slope(dba, t[active]),
                  float(np.std(np.diff(db))) if T > 1 else 0.0,
                  float(db[voiced].mean()) if voiced.any() else e[0],
                  float(db[unvoiced].mean()) if unvoiced.any() else e[0]]
        mel_fb = _mel_fb(sr, nfft, self.n_mels, 20.0, sr / 2)
        M = P @ mel_fb.T  # (T, n_mels)
        loud = (M ** 0.3).sum(axis=1) / self.n_mels
        la = loud[active]
        # syllable-like peaks of the smoothed loudness contour
        k = np.ones(5) / 5
        ls = np.convolve(loud, k, mode="same")
        if T > 2:
            pk = (ls[1:-1] > ls[:-2]) & (ls[1:-1] >= ls[2:]) & (ls[1:-1] > 0.5 * np.median(la) + 0.5 * ls.min())
        else:
            pk = np.zeros(0, bool)
        # shimmer proxy: frame-to-frame amplitude change in voiced runs (dB)
        vv = voiced[1:] & voiced[:-1]
        shimmer = float(np.abs(np.diff(db))[vv].mean()) if vv.any() else 0.0
        feats += [float(la.mean()), float(la.std()), float(np.percentile(la, 20)), float(np.percentile(la, 80)),
                  float(pk.sum()) / dur, shimmer]

        # ---- HNR ----
        if voiced.any():
            pv = np.clip(per[voiced], 1e-3, 0.999)
            hnr = 10 * np.log10(pv / (1 - pv))
            feats += [float(hnr.mean()), float(hnr.std()), float(np.percentile(hnr, 90)), float(per[active].mean())]
        else:
            feats += [0.0, 0.0, 0.0, float(per[active].mean())]

        # ---- rate / pauses ----
        on, _ = _runs(voiced)
        pause = ~active
        pon, _ = _runs(pause)
        long_p = pon[pon >= 15]  # >= 150 ms
        _, uv = _runs(voiced)
        feats += [len(on) / dur, float(on.mean()) * hop_s if len(on) else 0.0,
                  float(on.std()) * hop_s if len(on) else 0.0,
                  float(uv.mean()) * hop_s if len(uv) else 0.0, float(pause.mean()), len(long_p) / dur]

        # ---- spectral shape ----
        Pn = P / pw[:, None]
        cen = Pn @ freqs
        spread = np.sqrt(np.maximum(Pn @ (freqs ** 2) - cen ** 2, 0.0))
        sq = np.sqrt(P)
        sqn = sq / (np.linalg.norm(sq, axis=1, keepdims=True) + _EPS)
        flux = np.r_[0.0, np.sqrt(((np.diff(sqn, axis=0)) ** 2).sum(axis=1))]
        lp = np.log(P + _EPS)
        flat = np.exp(lp.mean(axis=1)) / (P.mean(axis=1) + _EPS)
        cum = np.cumsum(P, axis=1)
        roll = freqs[np.minimum((cum < 0.85 * cum[:, -1:]).sum(axis=1), len(freqs) - 1)]
        ent = -(Pn * np.log2(Pn + _EPS)).sum(axis=1) / np.log2(P.shape[1])
        # spectral slope: regression of dB on frequency (kHz) up to min(sr/2, 5 kHz)
        sel = (freqs > 50) & (freqs <= min(sr / 2, 5000))
        fk = freqs[sel] / 1000.0
        fk0 = fk - fk.mean()
        sl = (10 * np.log10(P[:, sel] + _EPS) @ fk0) / (fk0 @ fk0)
        zcr = (np.abs(np.diff(np.sign(frs), axis=1)) > 0).mean(axis=1)
        for d in (cen, spread, flux, flat, roll, ent, sl, zcr):
            da = d[active]
            feats += [float(da.mean()), float(da.std())]
        if voiced.any():
            feats += [float(cen[voiced].mean()), float(sl[voiced].mean()), float(flux[voiced].mean())]
        else:
            feats += [float(cen[active].mean()), float(sl[active].mean()), float(flux[active].mean())]

        # ---- band energy ratios (bands adapted to the Nyquist frequency) ----
        ny = sr / 2
        hi_top = min(5000.0, ny)

        def band(lo, hi):
            m = (freqs >= lo) & (freqs < hi)
            return P[:, m].sum(axis=1) + _EPS, (P[:, m].max(axis=1) + _EPS) if m.any() else np.full(T, _EPS)

        lo_e, _lo_max = band(50, 1000)
        hi_e, _ = band(1000, hi_top)
        _, h_lo = band(0, 2000)
        _, h_hi = band(2000, hi_top)
        alpha = 10 * np.log10(lo_e / hi_e)
        hamm = 10 * np.log10(h_lo / h_hi)
        feats += [float(alpha[active].mean()),
                  float(alpha[voiced].mean()) if voiced.any() else float(alpha[active].mean()),
                  float(hamm[active].mean()),
                  float(hamm[voiced].mean()) if voiced.any() else float(hamm[active].mean())]
        edges = [0, 300, 700, 1200, 2000, 3000, ny + 1]
        rel = np.stack([band(a, b)[0] for a, b in itertools.pairwise(edges)], axis=1)
        rel = 10 * np.log10(rel / rel.sum(axis=1, keepdims=True))
        feats += [float(v) for v in rel[active].mean(axis=0)] + [float(v) for v in rel[active].std(axis=0)]

        # ---- MFCC / log-mel ----
        L = np.log(M + 1e-8)
        C = dct(L, type=2, norm="ortho", axis=1)[:, : self.n_mfcc]
        dC = np.gradient(C, axis=0) if T > 1 else np.zeros_like(C)
        Ca = C[active]
        feats += list(Ca.mean(axis=0)) + list(Ca.std(axis=0))
        feats += list(np.abs(dC[active]).mean(axis=0)) + list(dC[active].std(axis=0))
        Cv = C[voiced] if voiced.sum() >= 2 else Ca
        feats += list(Cv.mean(axis=0)) + list(Cv.std(axis=0))
        La = L[active]
        feats += list(La.mean(axis=0)) + list(La.std(axis=0)) + list(np.percentile(La, 90, axis=0))
        return np.asarray(feats, dtype=np.float32)
