#!/usr/bin/env python3
"""Reference points for the audio and table examples, measured in one run so anneal's builds can be
shown beside them: accuracy and wall time of each method.

- FSDD, standard split (takes 0-4 of every speaker and digit = test, 300; the rest train, 2,700),
  on the log-mel features of tests/peer/logmel.py: the small CNN of examples/spoken-digits in
  PyTorch (same layers, Adam 2e-3, cosine, batch 32, 15 epochs, time shift up to 4 frames);
  an RBF SVM and logistic regression on MFCC statistics (mean and std over frames of 20
  MFCCs).
- UCI Adult (adult.data train, adult.test test): majority class, logistic regression, MLP 2x64,
  gradient-boosted trees; numeric columns standardised on the train split, categoricals one-hot
  (`?` is a category of its own).
- With `--anneal PATH`: anneal's builds of examples/spoken-digits and examples/income (when that
  folder exists), each imported by its import.sh into a temporary copy and built there.

usage: bench/references.py [--anneal PATH]
needs: pip install torch scikit-learn numpy; the datasets in ../shared/datasets (beside the repo).
Runs on the CPU; OMP_NUM_THREADS=1 keeps torch and sklearn to one thread.
"""
import argparse, json, math, shutil, subprocess, sys, tempfile, time, wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared/datasets"
sys.path.insert(0, str(ROOT / "tests/peer"))
from logmel import log_mel  # noqa: E402


def timed(fit_predict, y_test):
    t = time.time()
    pred = fit_predict()
    return float(np.mean(np.asarray(pred) == np.asarray(y_test))), time.time() - t


def fsdd():
    """Log-mel features [n, 40, 61], labels, and whether each is in the test split (takes 0-4)."""
    X, y, test = [], [], []
    for f in sorted((DATA / "fsdd/recordings").glob("*.wav")):
        digit, _speaker, take = f.stem.split("_")
        with wave.open(str(f)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0
        X.append(log_mel(x, {}))
        y.append(int(digit))
        test.append(int(take) < 5)
    return np.array(X, dtype=np.float32), np.array(y), np.array(test)


def mfcc_stats(X, n=20):
    """Mean and std over frames of the first n MFCCs (orthonormal DCT-II of the log-mel bands)."""
    m = X.shape[1]
    k = np.arange(m)
    dct = np.sqrt(2 / m) * np.cos(np.pi / m * (k[None, :] + 0.5) * np.arange(n)[:, None])
    dct[0] /= np.sqrt(2)
    c = np.einsum("cm,bmf->bcf", dct, X)
    return np.concatenate([c.mean(2), c.std(2)], axis=1)


def cnn(Xtr, ytr, Xte, epochs=15, batch=32, lr=2e-3, shift=4, seed=42):
    """examples/spoken-digits/anneal.toml in PyTorch: one scalar mean/std from the train split."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.manual_seed(seed)
    mu, sd = Xtr.mean(), Xtr.std()
    xtr, xte = torch.tensor((Xtr - mu) / sd), torch.tensor((Xte - mu) / sd)
    ytr, fill = torch.tensor(ytr), float(xtr.min())
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 10 * 15, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = math.ceil(len(ytr) / batch)
    cosine = lambda k: 0.5 * (1 + math.cos(math.pi * k / (steps * epochs)))  # noqa
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    for _ in range(epochs):
        perm = torch.randperm(len(ytr))
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            x = torch.full_like(xtr[idx], fill)  # translate in time, filling with the background
            for i, d in enumerate(torch.randint(-shift, shift + 1, (len(idx),)).tolist()):
                T = x.shape[2]
                x[i, :, max(d, 0):T + min(d, 0)] = xtr[idx[i], :, max(-d, 0):T - max(d, 0)]
            loss = F.cross_entropy(net(x.unsqueeze(1)), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    with torch.no_grad():
        return net(xte.unsqueeze(1)).argmax(1).numpy()


def adult():
    """One-hot categoricals (`?` a category of its own), numeric columns standardised on train."""
    def read(name):
        lines = (DATA / "adult" / name).read_text().strip().splitlines()
        rows = [line.split(", ") for line in lines[1:]]
        labels = np.array([r[-1].rstrip(".") == ">50K" for r in rows], dtype=int)
        return [r[:-1] for r in rows], labels

    (tr, ytr), (te, yte) = read("adult.data"), read("adult.test")
    numeric = [0, 2, 4, 10, 11, 12]  # age, fnlwgt, education-num, capital-gain, capital-loss, hours
    cols = []
    for j in range(len(tr[0])):
        a, b = [r[j] for r in tr], [r[j] for r in te]
        if j in numeric:
            a, b = np.array(a, dtype=float), np.array(b, dtype=float)
            mu, sd = a.mean(), a.std()
            cols.append((np.concatenate([a, b])[:, None] - mu) / sd)
        else:
            cats = sorted(set(a))  # categories seen in training; others are all-zero rows
            cols.append(np.array(a + b)[:, None] == np.array(cats)[None, :])
    X = np.hstack(cols).astype(np.float32)
    return X[: len(tr)], ytr, X[len(tr):], yte


def anneal_build(anneal, example):
    """Import and build examples/EXAMPLE in a temporary copy: (accuracy, seconds), or None when
    the example does not exist or anneal fails (the error is printed)."""
    src = ROOT / "examples" / example
    if not (src / "import.sh").exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / example
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".anneal", "target", "anneal.lock"))
        extra = [str(DATA / ("fsdd" if example == "spoken-digits" else "adult"))]
        try:
            quiet = dict(check=True, capture_output=True, text=True)
            subprocess.run([dst / "import.sh", anneal, *extra], **quiet)
            out = subprocess.run([anneal, "build", "--json", "-C", dst], **quiet)
        except subprocess.CalledProcessError as e:
            msg = ((e.stderr or e.stdout).strip() or "?").splitlines()[0]
            print(f"{example}: {Path(e.cmd[0]).name} {e.cmd[1]} failed: {msg}")
            return None
        built = json.loads(out.stdout.strip().splitlines()[-1])
        return built["accuracy"], built["seconds"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--anneal", help="an anneal binary: also build the examples with it")
    args = ap.parse_args()
    anneal = args.anneal and str(Path(args.anneal).resolve())
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    def row(program, method, result):
        if result:
            print(f"{program:<14}{method:<38}{result[0]:>9.4f}{result[1]:>9.1f}", flush=True)

    def fit(model, Xtr, ytr, Xte, yte):
        return timed(lambda: model.fit(Xtr, ytr).predict(Xte), yte)

    print(f"{'program':<14}{'method':<38}{'accuracy':>9}{'seconds':>9}")
    X, y, test = fsdd()
    M, tr, te = mfcc_stats(X), ~test, test
    small_cnn = timed(lambda: cnn(X[tr], y[tr], X[te]), y[te])
    row("spoken-digits", "small CNN (PyTorch, log-mel)", small_cnn)
    svm = make_pipeline(StandardScaler(), SVC(C=10))
    row("spoken-digits", "SVM RBF (MFCC mean+std)", fit(svm, M[tr], y[tr], M[te], y[te]))
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    row("spoken-digits", "logistic regression (MFCC mean+std)", fit(lr, M[tr], y[tr], M[te], y[te]))
    if anneal:
        row("spoken-digits", "anneal build", anneal_build(anneal, "spoken-digits"))

    Xtr, ytr, Xte, yte = adult()
    majority = int(np.bincount(ytr).argmax())
    row("income", "majority class", timed(lambda: np.full(len(yte), majority), yte))
    row("income", "logistic regression", fit(LogisticRegression(max_iter=2000), Xtr, ytr, Xte, yte))
    mlp = MLPClassifier((64, 64), early_stopping=True, random_state=42)
    row("income", "MLP 2x64 (sklearn, early stopping)", fit(mlp, Xtr, ytr, Xte, yte))
    gbt = HistGradientBoostingClassifier(random_state=42)
    row("income", "gradient-boosted trees (sklearn)", fit(gbt, Xtr, ytr, Xte, yte))
    if anneal:
        row("income", "anneal build", anneal_build(anneal, "income"))


if __name__ == "__main__":
    main()
