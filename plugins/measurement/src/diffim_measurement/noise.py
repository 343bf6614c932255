"""Spatial (cross-)correlation of the noise of the images a dipole fit uses.

The difference, science and PSF-matched template share noise: without
decorrelation the difference is ``science - template`` pixel by pixel, and
the matched template's noise is the template's noise convolved with the
matching kernel, correlated over several pixels (its per-pixel variance
plane understates the noise of anything PSF-sized by a factor of ten or
more). The dipole fit takes its weights and its parameter covariance from the
correlations measured here, on source-free pixels of the images themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from diffim.morphology import growMask
from diffim.statistics import iqrSigma

#: Side of the square tiles the correlations are measured on (pixels).
TILE = 64

#: At most this many tiles (on a regular grid) are used.
MAX_TILES = 256

#: Smoothed significance (in robust standard deviations of the smoothed tile
#: pixels) above which a pixel counts as part of a source in any image.
SOURCE_LEVEL = 5.0


@dataclass(frozen=True)
class NoiseCorrelation:
    """Correlation of the normalised noise ``z = n / sqrt(variance)`` of several images.

    Attributes
    ----------
    rho : numpy.ndarray
        ``(m, m, 2R+1, 2R+1)``: ``rho[i, j, R + dy, R + dx]`` is the mean of
        ``z_i(x, y) * z_j(x + dx, y + dy)``; ``rho[i, i, R, R]`` is the ratio of
        the measured to the planned variance of image ``i``.
    nPixels : int
        Source-free pixels the estimate rests on.
    """

    rho: np.ndarray
    nPixels: int
    _spectra: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def radius(self) -> int:
        return self.rho.shape[-1] // 2

    @classmethod
    def white(cls, m: int, radius: int) -> "NoiseCorrelation":
        """Independent images with white noise that their variance planes describe."""
        rho = np.zeros((m, m, 2 * radius + 1, 2 * radius + 1))
        for i in range(m):
            rho[i, i, radius, radius] = 1.0
        return cls(rho, 0)

    def spreadSpectrum(self, i: int, j: int, shape: tuple[int, int]) -> np.ndarray:
        """Real FFT on a ``shape`` grid of ``rho_ij`` flipped (cached per ``(i, j, shape)``).

        Convolving ``u`` with the flipped correlation gives ``sum_l rho_ij(l) u(p + l)``.
        """
        key = (i, j, shape)
        if key not in self._spectra:
            self._spectra[key] = np.fft.rfft2(self.rho[i, j][::-1, ::-1], s=shape)
        return self._spectra[key]

    def varianceFactor(self, i: int, weights: np.ndarray) -> float:
        """How much the noise of image ``i`` exceeds white noise for a weighted sum.

        The variance of ``sum(w * n)`` over the ``sum(w**2 * v)`` the variance
        plane predicts, for a locally constant variance:
        ``sum_l rho_ii(l) (w * w)(l) / (w * w)(0)`` with ``w * w`` the weights'
        autocorrelation.
        """
        weights = np.asarray(weights, dtype=np.float64)
        r = self.radius
        shape = (weights.shape[0] + r, weights.shape[1] + r)
        spectrum = np.fft.rfft2(weights, s=shape)
        auto = np.fft.irfft2(spectrum * np.conj(spectrum), s=shape)
        lags = np.r_[0:r + 1, -r:0]
        window = np.fft.fftshift(auto[np.ix_(lags, lags)])
        return float(max((self.rho[i, i] * window).sum() / auto[0, 0], 1e-3))


def _tileOrigins(shape: tuple[int, int], tile: int, maxTiles: int) -> list[tuple[int, int]]:
    """Lower-left corners of at most ``maxTiles`` tiles spread evenly over the image."""
    ny, nx = shape[0] // tile, shape[1] // tile
    step = max(1, int(np.ceil(np.sqrt(ny * nx / maxTiles))))
    return [(iy * tile, ix * tile) for iy in range(0, ny, step) for ix in range(0, nx, step)]


def measureNoiseCorrelation(images: list[np.ndarray], variances: list[np.ndarray],
                            exclude: np.ndarray, radius: int, smoothing: float,
                            tile: int = TILE, maxTiles: int = MAX_TILES) -> NoiseCorrelation:
    """Measure the auto- and cross-correlations of the noise of aligned images.

    Tiles on a regular grid are used. In each, a pixel is source-free when it
    is not in ``exclude``, every image holds finite data with positive variance
    there, and it is farther than ``2 * smoothing`` pixels from where any
    image, smoothed with a Gaussian of ``smoothing`` pixels, rises above
    :data:`SOURCE_LEVEL` robust standard deviations. The mean of each image's
    source-free pixels in a tile (its sky) is removed before the products are
    summed, so that sky and background errors do not leak into the
    correlations; the small negative bias this leaves at every lag (the
    correlation sum over the tile's pixel count) is added back.

    Parameters
    ----------
    images, variances : list of numpy.ndarray
        The images and their variance planes, all of one shape.
    exclude : numpy.ndarray
        True where pixels must not be used (detected sources, masked pixels).
    radius : int
        Largest lag measured (pixels, along each axis).
    smoothing : float
        Gaussian sigma (pixels) used to find sources, about the PSF sigma.
    tile, maxTiles : int
        Tile side and largest number of tiles.

    Returns
    -------
    NoiseCorrelation
        The correlations; white (independent, as the variance planes say) when
        fewer than ``tile**2`` source-free pixels are found.
    """
    m = len(images)
    origins = _tileOrigins(exclude.shape, tile, maxTiles)
    if not origins:
        return NoiseCorrelation.white(m, radius)
    rows = np.array([y for y, _ in origins])[:, None] + np.arange(tile)
    cols = np.array([x for _, x in origins])[:, None] + np.arange(tile)
    take = (rows[:, :, None], cols[:, None, :])
    good = ~exclude[take]
    z = []
    for image, variance in zip(images, variances):
        img = image[take].astype(np.float64)
        var = variance[take].astype(np.float64)
        ok = np.isfinite(img) & np.isfinite(var) & (var > 0)
        good &= ok
        zi = np.where(ok, img, 0.0) / np.sqrt(np.where(ok, var, 1.0))
        z.append(zi)
    source = np.zeros_like(good)
    grow = max(1, int(np.ceil(2.0 * smoothing)))
    anyGood = good.reshape(len(origins), -1).any(axis=1)
    for zi in z:
        masked = np.where(good, zi, np.nan).reshape(len(origins), -1)
        sky = np.zeros(len(origins))
        sky[anyGood] = np.nanmedian(masked[anyGood], axis=1)
        smooth = ndimage.gaussian_filter(np.where(good, zi - sky[:, None, None], 0.0),
                                         (0, smoothing, smoothing))
        level = iqrSigma(smooth[good]) if good.any() else 0.0
        source |= smooth > SOURCE_LEVEL * level
    source = growMask(source, grow, metric="chessboard")
    quiet = good & ~source
    nPixels = int(quiet.sum())
    if nPixels < tile * tile:
        return NoiseCorrelation.white(m, radius)
    size = tile + radius
    count = quiet.sum(axis=(1, 2)).astype(np.float64)
    centred = []
    for zi in z:
        mean = np.where(quiet, zi, 0.0).sum(axis=(1, 2)) / np.maximum(count, 1.0)
        centred.append(np.fft.rfft2(np.where(quiet, zi - mean[:, None, None], 0.0),
                                    s=(size, size)))
    weight = np.fft.rfft2(quiet.astype(np.float64), s=(size, size))
    pairs = np.fft.irfft2((np.conj(weight) * weight).sum(axis=0), s=(size, size))
    lags = np.r_[0:radius + 1, -radius:0]
    pick = np.ix_(lags, lags)
    counts = np.maximum(np.fft.fftshift(pairs[pick]), 1.0)
    # Removing each tile's mean lowers every lag by about S / N (S the sum of the
    # correlation over all lags, N the tile's pixel count); add it back.
    perTile = float((count ** 2).sum() / count.sum())
    nLags = (2 * radius + 1) ** 2
    rho = np.empty((m, m, 2 * radius + 1, 2 * radius + 1))
    for i in range(m):
        for j in range(m):
            product = np.fft.irfft2((np.conj(centred[i]) * centred[j]).sum(axis=0),
                                    s=(size, size))
            measured = np.fft.fftshift(product[pick]) / counts
            total = measured.sum() / max(1.0 - nLags / perTile, 0.5)
            rho[i, j] = measured + total / perTile
    return NoiseCorrelation(rho, nPixels)
