#!/usr/bin/env python3
"""Generate every sprite and sound of the demo game.

Run from anywhere:  python3 assets/generate.py

Standard library only: PNGs are written with zlib + struct, WAVs with the
`wave` module. The output is deterministic (fixed random seeds), so running
the script again reproduces the same files byte for byte.

Everything written here is made by this script and is licensed like the rest
of the project (MIT OR Apache-2.0); see assets/LICENSE.md.
"""

import math
import os
import random
import struct
import wave
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SPRITES = os.path.join(HERE, "sprites")
SOUNDS = os.path.join(HERE, "sounds")

# --------------------------------------------------------------------------
# PNG writing
# --------------------------------------------------------------------------


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def write_png(path, width, height, pixels, alpha=True):
    """pixels: list of rows, each a list of (r, g, b, a) floats in 0..1."""
    raw = bytearray()
    for row in pixels:
        raw.append(0)  # filter type 0 (none); zlib does the rest
        for r, g, b, a in row:
            px = [r, g, b, a] if alpha else [r, g, b]
            for c in px:
                raw.append(max(0, min(255, int(round(c * 255)))))
    colour_type = 6 if alpha else 2  # RGBA or RGB, 8 bits per channel
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n"
    data += _chunk(b"IHDR", ihdr)
    data += _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    data += _chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(data)


# --------------------------------------------------------------------------
# small 2D helpers (signed distance functions, in pixel units)
# --------------------------------------------------------------------------


def clamp(x, lo=0.0, hi=1.0):
    return lo if x < lo else hi if x > hi else x


def smoothstep(e0, e1, x):
    t = clamp((x - e0) / (e1 - e0))
    return t * t * (3 - 2 * t)


def lerp(a, b, t):
    return a + (b - a) * t


def lerp3(c0, c1, t):
    return tuple(lerp(a, b, t) for a, b in zip(c0, c1))


def sd_circle(px, py, cx, cy, r):
    return math.hypot(px - cx, py - cy) - r


def sd_polygon(px, py, pts):
    """Signed distance to a simple polygon (negative inside)."""
    d = float("inf")
    inside = False
    n = len(pts)
    for i in range(n):
        ax, ay = pts[i]
        bx, by = pts[(i + 1) % n]
        ex, ey = bx - ax, by - ay
        wx, wy = px - ax, py - ay
        t = clamp((wx * ex + wy * ey) / (ex * ex + ey * ey))
        dx, dy = wx - ex * t, wy - ey * t
        d = min(d, math.hypot(dx, dy))
        if (ay > py) != (by > py):
            xc = ax + (py - ay) * (bx - ax) / (by - ay)
            if px < xc:
                inside = not inside
    return -d if inside else d


def coverage(sd):
    """Anti-aliased coverage of a pixel whose centre is `sd` from an edge."""
    return clamp(0.5 - sd)


# --------------------------------------------------------------------------
# sprites
# --------------------------------------------------------------------------


def make_player():
    """64x64 white disc, soft darker rim, V notch at +X showing heading.

    White/grey only so the game can tint it per player (sprite colour
    multiplies). Heading is +X, i.e. the sprite faces right at rotation 0.
    """
    w = h = 64
    cx = cy = 32.0
    radius = 30.0
    # V notch cut into the rim on the right-hand side (heading = +X).
    notch = [(cx + radius + 4, cy - 7.0), (cx + radius - 9, cy), (cx + radius + 4, cy + 7.0)]
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            px, py = x + 0.5, y + 0.5
            d_disc = sd_circle(px, py, cx, cy, radius)
            d_notch = sd_polygon(px, py, notch)
            sd = max(d_disc, -d_notch)  # disc minus notch
            a = coverage(sd)
            if a <= 0:
                row.append((0, 0, 0, 0))
                continue
            # depth inside the shape (distance from the nearest edge)
            depth = -sd
            # soft darker rim: ~0.62 at the edge, white from ~7 px inward
            shade = lerp(0.62, 1.0, smoothstep(0.0, 7.0, depth))
            # faint highlight towards the upper left for a little volume
            hl = math.hypot(px - (cx - 9), py - (cy - 10))
            shade = min(1.0, shade * (0.96 + 0.04 * (1 - smoothstep(0, 22, hl))))
            row.append((shade, shade, shade, a))
        rows.append(row)
    write_png(os.path.join(SPRITES, "player.png"), w, h, rows)


def make_orb():
    """32x32 glowing yellow-white orb, radial falloff to transparent."""
    w = h = 32
    cx = cy = 16.0
    core = (1.0, 1.0, 0.92)
    glow = (1.0, 0.80, 0.25)
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            r = math.hypot(x + 0.5 - cx, y + 0.5 - cy)
            # bright solid core, anti-aliased at r = 4.5
            core_a = coverage(r - 4.5)
            # soft glow falling off to exactly zero before the sprite edge
            g = math.exp(-((r / 7.5) ** 2)) * (1 - smoothstep(11.0, 15.5, r))
            a = clamp(core_a + 0.95 * g)
            t = smoothstep(2.5, 10.0, r)
            col = lerp3(core, glow, t)
            row.append((col[0], col[1], col[2], a))
        rows.append(row)
    write_png(os.path.join(SPRITES, "orb.png"), w, h, rows)


def make_crown():
    """32x24 small golden crown with a dark outline and three jewels."""
    w, h = 32, 24
    # Outline of the crown (x right, y down): band at the bottom, 3 points.
    body = [
        (4.0, 21.0),
        (4.0, 9.0),
        (10.0, 14.0),
        (16.0, 5.0),
        (22.0, 14.0),
        (28.0, 9.0),
        (28.0, 21.0),
    ]
    balls = [(4.0, 7.5, 2.2), (16.0, 3.5, 2.4), (28.0, 7.5, 2.2)]
    jewels = [(10.0, 18.0, 1.6, (0.85, 0.15, 0.2)),
              (16.0, 18.0, 1.9, (0.2, 0.45, 0.95)),
              (22.0, 18.0, 1.6, (0.85, 0.15, 0.2))]
    outline_col = (0.36, 0.20, 0.02)
    gold_top = (1.0, 0.90, 0.45)
    gold_bottom = (0.85, 0.55, 0.08)
    band_col = (0.95, 0.70, 0.18)
    rows = []
    for y in range(h):
        row = []
        for x in range(w):
            px, py = x + 0.5, y + 0.5
            sd = sd_polygon(px, py, body)
            for bx, by, br in balls:
                sd = min(sd, sd_circle(px, py, bx, by, br))
            # 1.2 px dark outline around the whole shape
            outer = sd - 1.2
            a = coverage(outer)
            if a <= 0:
                row.append((0, 0, 0, 0))
                continue
            t = clamp((py - 2.0) / 19.0)
            fill = lerp3(gold_top, gold_bottom, t)
            if 15.5 <= py <= 20.5:  # band across the bottom
                fill = band_col
                if abs(py - 15.5) < 0.8:
                    fill = lerp3(band_col, (1.0, 0.95, 0.7), 0.6)  # band highlight
            for jx, jy, jr, jc in jewels:
                j = coverage(sd_circle(px, py, jx, jy, jr))
                if j > 0:
                    # small specular dot on each jewel
                    spec = coverage(sd_circle(px, py, jx - 0.6, jy - 0.6, 0.55))
                    jcol = lerp3(jc, (1.0, 1.0, 1.0), spec * 0.8)
                    fill = lerp3(fill, jcol, j)
            inner = coverage(sd)  # 1 inside the body, 0 on the outline
            col = lerp3(outline_col, fill, inner)
            row.append((col[0], col[1], col[2], a))
        rows.append(row)
    write_png(os.path.join(SPRITES, "crown.png"), w, h, rows)


def make_arena():
    """256x256 dark tileable floor: soft periodic noise plus a subtle grid."""
    size = 256
    rng = random.Random(0xA12E7A)

    # periodic value noise: lattice of `cells` x `cells` wrapping around
    def lattice(cells):
        return [[rng.random() for _ in range(cells)] for _ in range(cells)]

    def value_noise(grid, cells, x, y):
        fx = x / size * cells
        fy = y / size * cells
        x0, y0 = int(math.floor(fx)), int(math.floor(fy))
        tx, ty = fx - x0, fy - y0
        tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)
        x0 %= cells
        y0 %= cells
        x1, y1 = (x0 + 1) % cells, (y0 + 1) % cells
        a = lerp(grid[y0][x0], grid[y0][x1], tx)
        b = lerp(grid[y1][x0], grid[y1][x1], tx)
        return lerp(a, b, ty)

    octaves = [(4, 0.5), (8, 0.3), (32, 0.2)]
    grids = [(lattice(c), c, wgt) for c, wgt in octaves]
    base = (0.075, 0.082, 0.115)
    line = (0.16, 0.18, 0.25)
    cell = 32  # 8 grid cells across; 256 divides evenly so it tiles
    rows = []
    for y in range(size):
        row = []
        for x in range(size):
            n = sum(wgt * value_noise(g, c, x, y) for g, c, wgt in grids)
            grain = (rng.random() - 0.5) * 0.012
            k = 0.85 + 0.3 * n
            col = [c * k + grain for c in base]
            # grid line on x % 32 == 0 with a faint one-pixel halo either side
            def line_strength(v):
                m = v % cell
                if m == 0:
                    return 1.0
                if m == 1 or m == cell - 1:
                    return 0.25
                return 0.0

            s = max(line_strength(x), line_strength(y))
            if x % 128 == 0 or y % 128 == 0:
                s = min(1.0, s * 1.35)  # slightly stronger every 4th line
            col = [lerp(c, l, s * 0.55) for c, l in zip(col, line)]
            row.append((col[0], col[1], col[2], 1.0))
        rows.append(row)
    write_png(os.path.join(SPRITES, "arena.png"), size, size, rows, alpha=False)


# --------------------------------------------------------------------------
# sounds
# --------------------------------------------------------------------------

RATE = 44100
PEAK = 10 ** (-3 / 20)  # -3 dBFS


def seconds(n):
    return int(round(n * RATE))


def fade(samples, fade_in=0.004, fade_out=0.015):
    n = len(samples)
    fi, fo = seconds(fade_in), seconds(fade_out)
    for i in range(min(fi, n)):
        samples[i] *= i / fi
    for i in range(min(fo, n)):
        samples[n - 1 - i] *= i / fo
    return samples


def write_wav(path, samples):
    peak = max(abs(s) for s in samples) or 1.0
    gain = PEAK / peak
    frames = bytearray()
    for s in samples:
        frames += struct.pack("<h", int(round(clamp(s * gain, -1.0, 1.0) * 32767)))
    with wave.open(path, "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(RATE)
        wf.writeframes(bytes(frames))


def make_pickup():
    """~0.12 s rising blip."""
    n = seconds(0.12)
    out = []
    phase = 0.0
    for i in range(n):
        t = i / n
        freq = 620 * (1500 / 620) ** t  # exponential sweep up
        phase += 2 * math.pi * freq / RATE
        s = math.sin(phase) + 0.25 * math.sin(2 * phase) + 0.12 * math.sin(3 * phase)
        env = min(1.0, t / 0.05) * (1 - t) ** 0.6
        out.append(s * env)
    write_wav(os.path.join(SOUNDS, "pickup.wav"), fade(out, 0.003, 0.012))


def make_dash():
    """~0.25 s whoosh: white noise through a band-pass whose centre sweeps up."""
    rng = random.Random(0xDA5)
    n = seconds(0.25)
    out = []
    low = band = 0.0
    q = 0.9  # damping of the state-variable filter (lower = narrower)
    for i in range(n):
        t = i / n
        # centre frequency sweeps up from 350 Hz to about 3 kHz
        cf = 350 * (3200 / 350) ** math.sin(math.pi * min(1.0, t * 0.85 + 0.05) * 0.5) ** 2
        f = 2 * math.sin(math.pi * cf / RATE)
        x = rng.uniform(-1.0, 1.0)
        low += f * band
        high = x - low - q * band
        band += f * high
        env = math.sin(math.pi * t) ** 1.5 * (0.6 + 0.4 * t)
        out.append(band * env)
    write_wav(os.path.join(SOUNDS, "dash.wav"), fade(out, 0.005, 0.02))


def make_hit():
    """~0.15 s thump: falling low sine plus a short muffled noise click."""
    rng = random.Random(0x417)
    n = seconds(0.15)
    out = []
    phase = 0.0
    lp = 0.0
    for i in range(n):
        ts = i / RATE
        freq = 45 + 135 * math.exp(-ts / 0.03)  # 180 Hz falling towards 45 Hz
        phase += 2 * math.pi * freq / RATE
        body = math.sin(phase) * math.exp(-ts / 0.05)
        lp += 0.15 * (rng.uniform(-1, 1) - lp)  # one-pole low-pass noise
        click = lp * math.exp(-ts / 0.008) * 1.6
        out.append(math.tanh(1.4 * (body + click)))
    write_wav(os.path.join(SOUNDS, "hit.wav"), fade(out, 0.002, 0.02))


def tone(freq, dur, total_n, start, harmonics, decay, out):
    """Add a note with given harmonic amplitudes into `out`."""
    s0 = seconds(start)
    n = seconds(dur)
    for i in range(n):
        j = s0 + i
        if j >= total_n:
            break
        ts = i / RATE
        env = min(1.0, ts / 0.008) * math.exp(-ts / decay)
        # release over the last 25 ms of the note to avoid clicks
        rel = clamp((n - i) / seconds(0.025))
        v = 0.0
        for k, amp in harmonics:
            v += amp * math.sin(2 * math.pi * freq * k * ts)
        out[j] += v * env * rel


def make_round_end():
    """~0.8 s three-note rising fanfare (C5 E5 G5, last one held)."""
    total = seconds(0.8)
    out = [0.0] * total
    brass = [(1, 1.0), (2, 0.5), (3, 0.33), (4, 0.2), (5, 0.12)]
    tone(523.25, 0.17, total, 0.00, brass, 0.25, out)
    tone(659.25, 0.17, total, 0.16, brass, 0.25, out)
    tone(783.99, 0.48, total, 0.32, brass, 0.35, out)
    # an octave below under the final note for body
    tone(392.00, 0.48, total, 0.32, [(1, 0.4), (2, 0.15)], 0.35, out)
    write_wav(os.path.join(SOUNDS, "round_end.wav"), fade(out, 0.003, 0.04))


def make_host_changed():
    """~0.4 s two-tone chime (A5 then E6), bell-like partials."""
    total = seconds(0.4)
    out = [0.0] * total
    bell = [(1, 1.0), (2.0, 0.3), (2.76, 0.15), (5.4, 0.05)]
    tone(880.00, 0.4, total, 0.00, bell, 0.12, out)
    tone(1318.51, 0.26, total, 0.14, bell, 0.10, out)
    write_wav(os.path.join(SOUNDS, "host_changed.wav"), fade(out, 0.002, 0.03))


def main():
    os.makedirs(SPRITES, exist_ok=True)
    os.makedirs(SOUNDS, exist_ok=True)
    make_player()
    make_orb()
    make_crown()
    make_arena()
    make_pickup()
    make_dash()
    make_hit()
    make_round_end()
    make_host_changed()
    for sub in (SPRITES, SOUNDS):
        for name in sorted(os.listdir(sub)):
            p = os.path.join(sub, name)
            print(f"{os.path.relpath(p, HERE):28s} {os.path.getsize(p):7d} bytes")


if __name__ == "__main__":
    main()
