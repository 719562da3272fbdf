"""Image helpers shared by training, export and evaluation.

The SR convention: x2, Y channel of BT.601 (studio range, as MATLAB's rgb2ycbcr and as the
Y plane of an I420 video frame), LR made by PIL's antialiased bicubic resize of the RGB
image, PSNR on the Y channel with a 2-pixel border shaved.
"""
import glob
import os

import numpy as np
from PIL import Image

SCALE = 2


def rgb_to_y(rgb):
    """BT.601 studio-range luma of a uint8 RGB array, as float in [16, 235]."""
    rgb = rgb.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def load_rgb(path):
    return Image.open(path).convert('RGB')


def hr_lr_images(img):
    """The RGB PIL image cropped to a multiple of the scale, and its bicubic LR (RGB)."""
    w, h = img.size
    w, h = w - w % SCALE, h - h % SCALE
    hr = img.crop((0, 0, w, h))
    return hr, hr.resize((w // SCALE, h // SCALE), Image.BICUBIC)


def hr_lr_pair(img):
    """Crop an RGB PIL image to a multiple of the scale and make its bicubic LR.

    Returns (hr_y float64 [16,235], lr_y uint8): the LR luma is rounded to 8 bits because
    that is what a video element receives."""
    return luma_pair(*hr_lr_images(img))


def luma_pair(hr, lr):
    """hr_lr_pair's lumas of an (HR, LR) pair of RGB PIL images."""
    hr_y = rgb_to_y(np.asarray(hr))
    lr_y = np.clip(np.round(rgb_to_y(np.asarray(lr))), 0, 255).astype(np.uint8)
    return hr_y, lr_y


def bicubic_up(lr_y):
    """PIL bicubic x2 of a luma plane (float result, not rounded)."""
    h, w = lr_y.shape
    im = Image.fromarray(lr_y.astype(np.float32), mode='F')
    return np.asarray(im.resize((w * SCALE, h * SCALE), Image.BICUBIC), dtype=np.float64)


def psnr_y(hr_y, sr_y, shave=SCALE):
    """PSNR in dB of two luma planes on the 0..255 scale, border shaved."""
    a = hr_y[shave:-shave, shave:-shave].astype(np.float64)
    b = sr_y[shave:-shave, shave:-shave].astype(np.float64)
    mse = np.mean((a - b) ** 2)
    return 10.0 * np.log10(255.0 ** 2 / mse)


def image_paths(folder):
    exts = ('*.png', '*.jpg', '*.jpeg', '*.bmp')
    return sorted(p for e in exts for p in glob.glob(os.path.join(folder, e)))
