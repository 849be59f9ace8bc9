#!/usr/bin/env python3
"""Writes Debian's Fashion-MNIST as CIFAR-10 binary files (issue #16's ResNet-18 check).

Each 28x28 grey image is padded with 2 zero pixels on every side to 32x32 and repeated on the three
colour channels; records are 1 label byte + 3072 pixel bytes, channel-major, as CIFAR-10's. The 60 000
training images go to data_batch_1..5.bin (12 000 each), the 10 000 test images to test_batch.bin.
Usage: fashion-mnist-as-cifar.py OUT_DIR [SOURCE_DIR]
"""
import gzip, os, sys

def idx(path, header):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return data[header:]

def main():
    out = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    os.makedirs(out, exist_ok=False)
    for split, files in (("train", [f"data_batch_{i}.bin" for i in range(1, 6)]), ("t10k", ["test_batch.bin"])):
        images = idx(f"{src}/{split}-images-idx3-ubyte.gz", 16)
        labels = idx(f"{src}/{split}-labels-idx1-ubyte.gz", 8)
        n = len(labels)
        assert len(images) == n * 784
        per = n // len(files)
        for k, name in enumerate(files):
            record = bytearray()
            for i in range(k * per, (k + 1) * per):
                plane = bytearray(1024)
                img = images[i * 784:(i + 1) * 784]
                for r in range(28):
                    plane[(r + 2) * 32 + 2:(r + 2) * 32 + 30] = img[r * 28:(r + 1) * 28]
                record.append(labels[i])
                record += plane * 3
            with open(os.path.join(out, name), "wb") as f:
                f.write(record)

if __name__ == "__main__":
    main()
