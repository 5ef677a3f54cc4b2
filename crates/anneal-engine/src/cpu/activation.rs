//! `relu`, `gelu`, `tanh`, `sigmoid`: element-wise, under SIMD dispatch (kernels in `ops`).

use super::node::{Backward, Forward};
use super::ops::{In2, Out};
use rayon::prelude::*;

use super::ops::{CHUNK, simd};

pub(super) fn forward(a: Activation, f: Forward<'_, '_>) {
    activation_forward(a, f.x, f.y);
}

pub(super) fn backward(a: Activation, k: Backward<'_>) {
    if let Some(dx) = k.dx {
        activation_backward(a, k.x, k.y, k.dy, dx);
    }
}

// The kernels, on plain slices (channels-last images).

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    Relu,
    Gelu,
    Tanh,
    Sigmoid,
}

/// `y = f(x)`.
pub(crate) fn activation_forward(f: Activation, x: &[f32], y: &mut [f32]) {
    let kernel = |(y, x): (&mut [f32], &[f32])| {
        let x = &x[..y.len()];
        simd(
            #[inline(always)]
            move || match f {
                Activation::Relu => {
                    for i in 0..y.len() {
                        y[i] = x[i].max(0.0);
                    }
                }
                Activation::Gelu => {
                    for i in 0..y.len() {
                        y[i] = x[i] * phi(x[i]);
                    }
                }
                Activation::Tanh => {
                    for i in 0..y.len() {
                        y[i] = x[i].tanh();
                    }
                }
                Activation::Sigmoid => {
                    for i in 0..y.len() {
                        y[i] = 1.0 / (1.0 + (-x[i]).exp());
                    }
                }
            },
        )
    };
    if y.len() <= CHUNK {
        kernel((y, x));
    } else {
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(kernel);
    }
}

/// `dx = dy · f'(x)`, from the input `x` and output `y` of the forward pass.
pub(crate) fn activation_backward(f: Activation, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    let kernel = |((dx, dy), (x, y)): (Out<'_>, In2<'_>)| {
        let n = dx.len();
        let (dy, x, y) = (&dy[..n], &x[..n], &y[..n]);
        simd(
            #[inline(always)]
            move || match f {
                Activation::Relu => {
                    for i in 0..n {
                        dx[i] = if y[i] > 0.0 { dy[i] } else { 0.0 };
                    }
                }
                Activation::Gelu => {
                    for i in 0..n {
                        let density = (-0.5 * x[i] * x[i]).exp() * std::f32::consts::FRAC_2_SQRT_PI
                            / (2.0 * std::f32::consts::SQRT_2);
                        dx[i] = dy[i] * (phi(x[i]) + x[i] * density);
                    }
                }
                Activation::Tanh => {
                    for i in 0..n {
                        dx[i] = dy[i] * (1.0 - y[i] * y[i]);
                    }
                }
                Activation::Sigmoid => {
                    for i in 0..n {
                        dx[i] = dy[i] * (y[i] * (1.0 - y[i]));
                    }
                }
            },
        )
    };
    if dx.len() <= CHUNK {
        kernel(((dx, dy), (x, y)));
    } else {
        dx.par_chunks_mut(CHUNK)
            .zip(dy.par_chunks(CHUNK))
            .zip(x.par_chunks(CHUNK).zip(y.par_chunks(CHUNK)))
            .for_each(kernel);
    }
}

/// The standard normal distribution function, `(1 + erf(x / √2)) / 2`.
fn phi(x: f32) -> f32 {
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}
