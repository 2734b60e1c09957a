# Pillow references for imageproc's TestResizeFiltersAsPillow: a 36x28 crop of chelsea.png at
# (100, 80), resized with each filter to each size, raw RGB concatenated in the test's order.
import sys
from PIL import Image
src = Image.open(sys.argv[1]).convert("RGB").crop((100, 80, 136, 108))
filters = [("lanczos", Image.LANCZOS), ("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC), ("box", Image.BOX), ("hamming", Image.HAMMING)]
sizes = [(16, 11), (50, 41), (18, 14), (12, 7), (20, 28), (36, 13), (1, 1)]
out = bytearray()
for _, f in filters:
    for w, h in sizes:
        out += src.resize((w, h), f).tobytes()
import gzip; open(sys.argv[2], "wb").write(gzip.compress(bytes(out), 9, mtime=0))
print(len(out))
