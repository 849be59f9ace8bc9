#!/usr/bin/env python3
"""Converts scikit-learn's 1,797 handwritten digits (8x8, values 0..16, shipped inside its wheel as
sklearn/datasets/data/digits.csv.gz) once into MNIST-style IDX files: each digit scaled bilinearly to a
20x20 box, values to 0..255, centred in a 28x28 frame (as MNIST's digits are). Output, gzipped, in
Tests/data/sklearn-digits: t10k-images/labels (all 1,797 digits: the out-of-distribution set for
Fashion-MNIST runs, `evaluate --ood-data mnist --ood-data-dir Tests/data/sklearn-digits`) and
train-images/labels (the first 100, because the IDX reader loads a training split too).
Standard library only. Usage: make-digits-idx.py SCIKIT_LEARN_WHEEL [OUT_DIR]
(get the wheel with `pip download scikit-learn --no-deps -d /tmp/skl`)."""
import csv, gzip, io, os, struct, sys, zipfile

wheel = sys.argv[1]
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "data", "sklearn-digits")
with zipfile.ZipFile(wheel) as z:
    text = gzip.decompress(z.read("sklearn/datasets/data/digits.csv.gz")).decode()
rows = [list(map(float, r)) for r in csv.reader(io.StringIO(text)) if r]
assert len(rows) == 1797 and all(len(r) == 65 for r in rows)

def frame(pixels):
    """8x8 (0..16) -> 28x28 bytes: bilinear to 20x20 (pixel centres aligned), placed at offset 4."""
    img = [[pixels[r * 8 + c] for c in range(8)] for r in range(8)]
    out = [[0] * 28 for _ in range(28)]
    for i in range(20):
        y = (i + 0.5) * 8 / 20 - 0.5
        y0 = min(max(int(y // 1), 0), 7); y1 = min(y0 + 1, 7); fy = min(max(y - y0, 0.0), 1.0)
        for j in range(20):
            x = (j + 0.5) * 8 / 20 - 0.5
            x0 = min(max(int(x // 1), 0), 7); x1 = min(x0 + 1, 7); fx = min(max(x - x0, 0.0), 1.0)
            v = (img[y0][x0] * (1 - fx) + img[y0][x1] * fx) * (1 - fy) + (img[y1][x0] * (1 - fx) + img[y1][x1] * fx) * fy
            out[4 + i][4 + j] = max(0, min(255, round(v * 255 / 16)))
    return bytes(b for row in out for b in row)

def write(name, header, body):
    data = header + body
    with gzip.GzipFile(os.path.join(out, name + ".gz"), "wb", mtime=0) as f:
        f.write(data)

os.makedirs(out, exist_ok=True)
images = [frame(r[:64]) for r in rows]
labels = bytes(int(r[64]) for r in rows)
for prefix, n in (("t10k", len(rows)), ("train", 100)):
    write(prefix + "-images-idx3-ubyte", struct.pack(">IIII", 0x803, n, 28, 28), b"".join(images[:n]))
    write(prefix + "-labels-idx1-ubyte", struct.pack(">II", 0x801, n), labels[:n])
print(f"wrote {len(rows)} test and 100 training digits to {out}")
