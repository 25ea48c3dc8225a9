"""Telephone simulation: 8 kHz, 300-3400 Hz band, mu-law, noise at a given SNR."""

from __future__ import annotations

import numpy as np

from callemo.io.telephone import TelephoneAugment, add_noise, mulaw, mulaw_decode, mulaw_encode, telephone


def _band_energy(x, sr, lo, hi):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return spec[(f >= lo) & (f < hi)].sum()


def test_output_rate_band_and_level():
    sr = 16000
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(sr * 2)).astype(np.float32)  # white noise: flat 0-8 kHz
    y, out_sr = telephone(x, sr, codec=False)
    assert out_sr == 8000 and len(y) == 16000
    inband = _band_energy(y, 8000, 500, 3000) / 2500
    low = _band_energy(y, 8000, 0, 100) / 100
    assert low < 0.05 * inband  # below 300 Hz is cut
    assert np.abs(y).max() <= 1.0


def test_mulaw_is_8bit_and_close():
    x = np.linspace(-1, 1, 1001).astype(np.float32)
    codes = mulaw_encode(x)
    assert codes.dtype == np.uint8 and len(np.unique(codes)) <= 256
    back = mulaw_decode(codes)
    # mu-law: small step near zero, larger at the extremes; never more than ~3 % of full scale
    assert np.max(np.abs(back - x)) < 0.035
    small = np.float32(0.01)
    assert abs(mulaw(np.array([small]))[0] - small) < 0.001


def test_noise_at_requested_snr():
    rng = np.random.default_rng(1)
    x = (0.3 * np.sin(np.linspace(0, 2000, 80000))).astype(np.float32)
    y = add_noise(x, 10.0, rng)
    noise = y - x
    snr = 10 * np.log10(np.mean(x**2) / np.mean(noise**2))
    assert abs(snr - 10.0) < 0.5


def test_augment_degrades_at_the_drawn_snr_and_is_reproducible(voice):
    x = voice(2.0, sr=16000, seed=5)
    clean, _ = telephone(x, 16000)  # band + codec, no noise
    a, sr_a = TelephoneAugment(snr_range=(15.0, 15.0), p_noise=1.0, seed=3)(x, 16000)
    # an identity function would keep 16 kHz and the input samples
    assert sr_a == 8000 and len(a) == len(clean) == 16000
    noise = a.astype(np.float64) - clean
    snr = 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(noise**2))
    assert 13.0 < snr < 17.0
    b, _ = TelephoneAugment(snr_range=(15.0, 15.0), p_noise=1.0, seed=3)(x, 16000)
    np.testing.assert_array_equal(a, b)
    c, _ = TelephoneAugment(snr_range=(15.0, 15.0), p_noise=1.0, seed=4)(x, 16000)
    assert np.abs(c - a).max() > 0.01  # another seed, another noise
    # no noise drawn: exactly the codec-only channel
    d, _ = TelephoneAugment(p_noise=0.0, seed=1)(x, 16000)
    np.testing.assert_array_equal(d, clean)
    # a generator passed per call (one per item) decides, not the augmenter's own
    aug = TelephoneAugment(snr_range=(10.0, 30.0), p_noise=1.0, seed=9)
    e1, _ = aug(x, 16000, rng=np.random.default_rng(123))
    e2, _ = aug(x, 16000, rng=np.random.default_rng(123))
    np.testing.assert_array_equal(e1, e2)


def test_augment_draws_noise_with_probability_p_noise():
    aug = TelephoneAugment(snr_range=(10.0, 30.0), p_noise=0.3, seed=0)
    draws = [aug.draw_snr() for _ in range(2000)]
    noisy = [d for d in draws if d is not None]
    assert abs(len(noisy) / len(draws) - 0.3) < 0.04
    assert min(noisy) >= 10.0 and max(noisy) <= 30.0 and abs(np.mean(noisy) - 20.0) < 1.0
    assert all(d is None for d in (TelephoneAugment(snr_range=None, p_noise=1.0).draw_snr() for _ in range(50)))
