#!/usr/bin/env python3
"""The audio front end in numpy, from the parameters a package records (`anneal.program`'s
`input.audio`): what anneal's Rust front end must agree with (within 1e-4).

usage: logmel.py WAV [PARAMS.json]   prints the features as JSON ([mels][frames])
"""
import json
import sys
import wave

import numpy as np

DEFAULTS = {"rate": 8000, "samples": 8000, "n-fft": 256, "hop": 128, "mels": 40,
            "fmin": 0.0, "fmax": 4000.0, "floor": 1e-6}


def read_wav(path):
    """Mono 16-bit PCM samples scaled to [-1, 1), and the rate."""
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, "mono 16-bit only"
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
        return x, w.getframerate()


def mel(hz):
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def filterbank(p):
    edges = hz(np.linspace(mel(p["fmin"]), mel(p["fmax"]), p["mels"] + 2))
    bins = np.arange(p["n-fft"] // 2 + 1) * p["rate"] / p["n-fft"]
    fb = np.zeros((p["mels"], len(bins)))
    for b in range(p["mels"]):
        left, centre, right = edges[b : b + 3]
        fb[b] = np.maximum(0, np.minimum((bins - left) / (centre - left), (right - bins) / (right - centre)))
    return fb


def log_mel(x, p):
    p = {**DEFAULTS, **p}
    n, hop = p["n-fft"], p["hop"]
    x = np.pad(x[: p["samples"]], (0, max(0, p["samples"] - len(x))))
    frames = 1 + (p["samples"] - n) // hop
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    idx = np.arange(n)[None, :] + hop * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
    features = np.log(filterbank(p) @ power.T + p["floor"])
    if p.get("range") is not None:  # per utterance: relative to its maximum, clamped below
        features = np.maximum(features - features.max(), -p["range"])
    return features


if __name__ == "__main__":
    x, rate = read_wav(sys.argv[1])
    params = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else {}
    print(json.dumps(log_mel(x, params).tolist()))
