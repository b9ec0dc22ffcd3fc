//! The arithmetic of numpy, pandas and scipy that the original's metrics rely on, reproduced
//! operation for operation where the order of floating-point operations decides the last bits.
//!
//! - numpy sums a float array pairwise ([`pairwise_sum`]); `np.mean` is that sum divided by the
//!   count, `np.var` the pairwise sum of squared deviations from it divided by the count.
//! - pandas' `Series.mean()` sums every value with NaN replaced by 0 (pairwise, as numpy) and
//!   divides by the count of non-NaN values; `Series.min()` skips NaN.
//! - scipy 1.12's `linregress` and `ttest_ind`, with Student's t distribution from the
//!   regularized incomplete beta function.

use statrs::function::beta::beta_reg;

/// numpy's pairwise summation (`DOUBLE_pairwise_sum` in numpy 1.26), which `np.sum`, `np.mean`
/// and pandas' reductions use on a contiguous float64 array: below 8 values a plain loop from
/// 0.0; up to 128, eight running sums combined as `((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7))` and the
/// remainder added in order; above, the two halves (the first a multiple of 8 long) summed
/// recursively and added.
pub(crate) fn pairwise_sum(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 8 {
        let mut sum = 0.0;
        for v in values {
            sum += v;
        }
        sum
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&values[..8]);
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += values[i + j];
            }
            i += 8;
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &values[whole..] {
            sum += v;
        }
        sum
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// `np.mean`: NaN for no values (numpy warns and returns NaN).
pub(crate) fn mean(values: &[f64]) -> f64 {
    pairwise_sum(values) / values.len() as f64
}

/// `np.var` (population variance, ddof 0): the mean of squared deviations from [`mean`].
pub(crate) fn var(values: &[f64]) -> f64 {
    let m = mean(values);
    let squares: Vec<f64> = values.iter().map(|v| (v - m) * (v - m)).collect();
    pairwise_sum(&squares) / values.len() as f64
}

/// pandas' `Series.mean()` on a float column: NaN counts as 0 in the sum and not in the count;
/// NaN when every value is NaN.
pub(crate) fn nan_mean(values: &[f64]) -> f64 {
    let count = values.iter().filter(|v| !v.is_nan()).count();
    if count == 0 {
        return f64::NAN;
    }
    let filled: Vec<f64> = values.iter().map(|v| if v.is_nan() { 0.0 } else { *v }).collect();
    pairwise_sum(&filled) / count as f64
}

/// pandas' `Series.min()` on a float column: NaN skipped; NaN when every value is NaN.
pub(crate) fn nan_min(values: &[f64]) -> f64 {
    values
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .reduce(f64::min)
        .unwrap_or(f64::NAN)
}

/// What scipy's `linregress` returns, of what the original uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Linregress {
    pub(crate) slope: f64,
    pub(crate) intercept: f64,
    pub(crate) r: f64,
    pub(crate) p_value: f64,
}

/// scipy 1.12's `stats.linregress(x, y)` for at least 3 points: `None` where scipy raises
/// (`ValueError`, all `x` identical).
///
/// Means by [`mean`]; `ssxm`, `ssxym`, `ssym` are the biased (co)variances `np.cov(x, y,
/// bias=1)` computes: deviations from the means, their products summed and multiplied by
/// `1/n`. `r = ssxym / sqrt(ssxm·ssym)` (0 when either is 0, clipped to [-1, 1]),
/// `slope = ssxym / ssxm`, `intercept = ȳ − slope·x̄`, and the two-sided p-value of
/// `t = r·sqrt(df / ((1 − r + 1e-20)(1 + r + 1e-20)))` with `df = n − 2`.
pub(crate) fn linregress(x: &[f64], y: &[f64]) -> Option<Linregress> {
    debug_assert_eq!(x.len(), y.len());
    let n = x.len();
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    if max == min && n > 1 {
        return None;
    }
    let xmean = mean(x);
    let ymean = mean(y);
    // np.cov: rows centred on np.average (the same pairwise mean), then X·Xᵀ, times 1/n.
    let dx: Vec<f64> = x.iter().map(|v| v - xmean).collect();
    let dy: Vec<f64> = y.iter().map(|v| v - ymean).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let fact = 1.0 / n as f64;
    let ssxm = dot(&dx, &dx) * fact;
    let ssxym = dot(&dx, &dy) * fact;
    let ssym = dot(&dy, &dy) * fact;
    let r = if ssxm == 0.0 || ssym == 0.0 {
        0.0
    } else {
        (ssxym / (ssxm * ssym).sqrt()).clamp(-1.0, 1.0)
    };
    let slope = ssxym / ssxm;
    let intercept = ymean - slope * xmean;
    const TINY: f64 = 1.0e-20;
    let df = (n - 2) as f64;
    let t = r * (df / ((1.0 - r + TINY) * (1.0 + r + TINY))).sqrt();
    Some(Linregress {
        slope,
        intercept,
        r,
        p_value: two_sided_p(df, t),
    })
}

/// The two-sided p-value of scipy 1.12's `stats.ttest_ind(a, b)` (equal variances assumed):
/// `t = (ā − b̄) / sqrt(s²(1/n₁ + 1/n₂))` with the pooled variance
/// `s² = ((n₁−1)v₁ + (n₂−1)v₂) / (n₁+n₂−2)`, each `vᵢ` the sample variance (the population
/// variance times `nᵢ/(nᵢ−1)`). NaN when both samples are constant and equal (0/0), 0 when
/// constant and different.
pub(crate) fn ttest_ind_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let v1 = var(a) * (n1 / (n1 - 1.0));
    let v2 = var(b) * (n2 / (n2 - 1.0));
    let df = n1 + n2 - 2.0;
    let svar = ((n1 - 1.0) * v1 + (n2 - 1.0) * v2) / df;
    let denom = (svar * (1.0 / n1 + 1.0 / n2)).sqrt();
    let t = (mean(a) - mean(b)) / denom;
    two_sided_p(df, t)
}

/// `2·stdtr(df, −|t|)`: twice the lower tail of Student's t with `df` degrees of freedom,
/// `I_x(df/2, 1/2)` with `x = df / (df + t²)` (scipy 1.12 computes it with CDFLIB's `cdft`).
fn two_sided_p(df: f64, t: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    if t == 0.0 {
        return 1.0;
    }
    let x = df / (df + t * t);
    beta_reg(df / 2.0, 0.5, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_groups_as_numpy_does() {
        // Below 8 values: in order. 0.1 + 0.2 + 0.3 is not 0.6 in floating point.
        assert_eq!(pairwise_sum(&[0.1, 0.2, 0.3]), 0.1 + 0.2 + 0.3);
        // 9 values: 8 lanes, then the ninth.
        let v: Vec<f64> = (1..=9).map(|i| f64::from(i) * 0.1).collect();
        let lanes = ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
        assert_eq!(pairwise_sum(&v), lanes + v[8]);
        // Above 128: split at a multiple of 8.
        let long: Vec<f64> = (0..300).map(|i| f64::from(i).sqrt()).collect();
        assert_eq!(
            pairwise_sum(&long),
            pairwise_sum(&long[..144]) + pairwise_sum(&long[144..])
        );
        assert_eq!(pairwise_sum(&[]), 0.0);
    }

    #[test]
    fn nan_aware_reductions_skip_nan_as_pandas_does() {
        assert_eq!(nan_mean(&[1.0, f64::NAN, 3.0]), 2.0);
        assert!(nan_mean(&[f64::NAN, f64::NAN]).is_nan());
        assert_eq!(nan_min(&[f64::NAN, 3.0, 2.0]), 2.0);
        assert!(nan_min(&[f64::NAN]).is_nan());
    }

    #[test]
    fn linregress_of_a_line_is_exact_and_refuses_a_single_x() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [3.0, 5.0, 7.0, 9.0, 11.0];
        let fit = linregress(&x, &y).unwrap();
        assert_eq!((fit.slope, fit.intercept, fit.r), (2.0, 1.0, 1.0));
        assert!(fit.p_value < 1e-20, "{}", fit.p_value);
        assert!(linregress(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).is_none());
        // A flat y: r = 0 and p = 1, as scipy gives.
        let flat = linregress(&x, &[4.0; 5]).unwrap();
        assert_eq!((flat.slope, flat.r, flat.p_value), (0.0, 0.0, 1.0));
    }

    #[test]
    fn student_t_p_values_match_scipy() {
        // scipy.special.stdtr(df, -|t|) * 2, printed by scipy 1.12.
        let cases = [
            (3.0, 1.0, 0.391_002_218_955_770_53),
            (10.0, 30.0, 3.961_792_342_031_319_6e-11),
            (298.0, 40.0, 7.823_027_069_657_776e-122),
        ];
        for (df, t, want) in cases {
            let got = two_sided_p(df, t);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "df {df} t {t}: {got} vs {want}"
            );
        }
    }
}
