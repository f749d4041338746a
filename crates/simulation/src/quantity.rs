//! Resource quantities as the scheduler compares them: CPU in millicores,
//! everything else in whole units (bytes, pods), from Kubernetes' quantity
//! strings (`100m`, `2`, `1.5`, `128Mi`, `1G`, `1e3`).

/// `q` in thousandths of a unit (millicores for CPU); `None` if it is not
/// a quantity.
pub fn milli(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let (number, exponent) = match suffix.strip_prefix(['e', 'E']) {
        Some(e) => (number, e.parse::<i32>().ok()?),
        None => (number, 0),
    };
    let scale: f64 = match if exponent != 0 { "" } else { suffix } {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    let thousandths = value * scale * 10f64.powi(exponent) * 1000.0;
    thousandths.is_finite().then(|| thousandths.ceil() as i128)
}

#[cfg(test)]
mod tests {
    use super::milli;

    #[test]
    fn quantities_in_thousandths() {
        assert_eq!(milli("100m"), Some(100));
        assert_eq!(milli("2"), Some(2000));
        assert_eq!(milli("1.5"), Some(1500));
        assert_eq!(milli("1Ki"), Some(1_024_000));
        assert_eq!(milli("128Mi"), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(milli("1G"), Some(1_000_000_000_000));
        assert_eq!(milli("1e3"), Some(1_000_000));
        assert_eq!(milli("lots"), None);
    }
}
