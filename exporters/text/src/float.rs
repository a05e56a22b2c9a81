//! Go's `strconv.FormatFloat(v, 'g', -1, 64)`, the way expfmt prints every sample value.

use std::fmt::Write as _;

/// Writes `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does, which is what the Go exporters
/// serve (expfmt's `writeFloat`): the shortest digits that round-trip, in exponent form when the
/// decimal exponent is below -4 or at least 6. Go decides with precision 6 for the shortest form
/// (strconv/ftoa.go: `if shortest { eprec = 6 }`), so 1234567 prints as `1.234567e+06`.
pub fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Most samples are integers (bytes, counts, seconds since epoch). Below 2^53 every integer is
    // exact and the spacing of doubles is at most 1, so its shortest round-trip digits are its
    // decimal digits without trailing zeros: no float formatting needed.
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if v.fract() == 0.0 && v.abs() < EXACT {
        let mut buf = [0u8; 20];
        let mut n = v.abs() as u64;
        let mut i = buf.len();
        while n > 0 {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let all = &buf[i..];
        let exp = all.len() as i32 - 1;
        let digits = match all.iter().rposition(|&d| d != b'0') {
            Some(last) => &all[..=last],
            None => all,
        };
        write_go_g(out, v < 0.0, digits, exp);
        return;
    }
    // Rust's `{:e}` gives the same shortest round-trip digits ("1.0412032e7", "-5e-5"), written
    // to the stack rather than a new String.
    let mut sci = StackBuf::default();
    let _ = write!(sci, "{:e}", v.abs());
    let text = sci.as_bytes();
    let (mantissa, exp) = match text.iter().position(|&b| b == b'e') {
        Some(e) => (
            &text[..e],
            std::str::from_utf8(&text[e + 1..])
                .ok()
                .and_then(|x| x.parse::<i32>().ok())
                .unwrap_or(0),
        ),
        None => (text, 0),
    };
    let mut digits = [0u8; 32];
    let mut n = 0;
    for &b in mantissa.iter().filter(|b| b.is_ascii_digit()) {
        if n < digits.len() {
            digits[n] = b;
            n += 1;
        }
    }
    write_go_g(out, v < 0.0, &digits[..n], exp);
}

/// Writes `0.d1d2… × 10^(exp+1)` as Go's `FormatFloat(v, 'g', -1, 64)`: `%e` with at least two
/// exponent digits when the exponent is below -4 or at least 6 (shortest precision uses 6 as
/// the limit), else plain decimal. `digits` are ASCII, the first non-zero, no trailing zeros.
fn write_go_g(out: &mut String, negative: bool, digits: &[u8], exp: i32) {
    let digit = |d: &u8| char::from(*d);
    if negative {
        out.push('-');
    }
    if (-4..6).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.extend(digits.iter().map(digit));
        } else {
            let int_len = exp as usize + 1;
            for i in 0..int_len {
                out.push(digits.get(i).map(digit).unwrap_or('0'));
            }
            if digits.len() > int_len {
                out.push('.');
                out.extend(digits[int_len..].iter().map(digit));
            }
        }
    } else {
        let mut it = digits.iter();
        if let Some(first) = it.next() {
            out.push(digit(first));
        }
        if digits.len() > 1 {
            out.push('.');
            out.extend(it.map(digit));
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = write!(out, "{e}");
    }
}

/// A fixed buffer for one formatted float (`{:e}` of an f64 is at most 24 bytes).
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        Self {
            buf: [0; 40],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        write_float(&mut s, v);
        s
    }

    #[test]
    fn floats_match_go_format_float_g_shortest() {
        // Expected strings are what Go's strconv.FormatFloat(v, 'g', -1, 64) prints.
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (299.0, "299"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (10412032.0, "1.0412032e+07"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1.8446744073709552e19, "1.8446744073709552e+19"),
            (1e100, "1e+100"),
            (0.001234, "0.001234"),
            (999999.0, "999999"),
            (1.7e9, "1.7e+09"),
            (-1234567.0, "-1.234567e+06"),
            (-0.5, "-0.5"),
            (123.456, "123.456"),
            (100.0, "100"),
            (9007199254740993.0, "9.007199254740992e+15"),
            (1.795479968e9, "1.795479968e+09"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(f(*v), *want, "formatting {v}");
        }
    }

    /// The straightforward formatting (Rust's shortest `{:e}` digits, re-laid out as Go's 'g'):
    /// the fast paths of `write_float` must print exactly this.
    fn reference(v: f64) -> String {
        if v.is_nan() || v.is_infinite() || v == 0.0 {
            return f(v);
        }
        let sci = format!("{v:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        if (-4..6).contains(&exp) {
            format!("{v}")
        } else {
            format!(
                "{mantissa}e{}{:02}",
                if exp < 0 { '-' } else { '+' },
                exp.unsigned_abs()
            )
        }
    }

    proptest::proptest! {
        #[test]
        fn any_float_prints_as_the_reference(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            proptest::prop_assert_eq!(f(v), reference(v));
        }

        #[test]
        fn any_integer_prints_as_the_reference(n in -(1i64 << 54)..(1i64 << 54)) {
            let v = n as f64;
            proptest::prop_assert_eq!(f(v), reference(v));
        }

        #[test]
        fn short_decimals_print_as_the_reference(n in -10_000_000i64..10_000_000, scale in 0u32..12) {
            let v = n as f64 / 10f64.powi(scale as i32);
            proptest::prop_assert_eq!(f(v), reference(v));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_float_round_trips_through_the_text(v in proptest::num::f64::ANY) {
            let s = f(v);
            let back: f64 = match s.as_str() {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                other => other.parse().unwrap(),
            };
            if v.is_nan() { proptest::prop_assert!(back.is_nan()); } else { proptest::prop_assert_eq!(back, v); }
        }
    }
}
