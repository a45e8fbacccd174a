//! Terms that apply to allowed uses, and money as integer minor units.

use serde::{Deserialize, Serialize};

use super::InvalidPayload;

/// The largest amount accepted, in minor units (10^15: ten trillion in a
/// two-decimal currency). Larger figures are input mistakes, not terms.
pub const MAX_AMOUNT_MINOR: u64 = 1_000_000_000_000_000;
/// The longest credit line accepted, in characters.
pub const MAX_CREDIT_CHARS: usize = 512;

/// An amount of money: integer minor units (cents for EUR) and an ISO 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount_minor: u64,
    pub currency: String,
}

/// One term of use. A statement may carry several, at most one of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Term {
    /// No payment is asked.
    Free {},
    /// A credit line must accompany any allowed use.
    Attribution { credit: String },
    /// A fixed amount per training run.
    FlatFee { amount: Money },
    /// A pro-rata share of the run's royalty pool, with an optional minimum per work.
    RevenueShare {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minimum: Option<Money>,
    },
}

impl Term {
    fn kind(&self) -> &'static str {
        match self {
            Term::Free {} => "free",
            Term::Attribution { .. } => "attribution",
            Term::FlatFee { .. } => "flat-fee",
            Term::RevenueShare { .. } => "revenue-share",
        }
    }
}

/// Checks a list of terms: known currencies, sane amounts, one term per kind,
/// and no payment terms next to `free`.
///
/// # Errors
/// With a message naming the first problem found.
pub fn validate_terms(terms: &[Term]) -> Result<(), InvalidPayload> {
    let mut seen: Vec<&str> = Vec::new();
    for term in terms {
        if seen.contains(&term.kind()) {
            return Err(InvalidPayload::new(format!(
                "terms list `{}` more than once",
                term.kind()
            )));
        }
        seen.push(term.kind());
        match term {
            Term::Free {} => {}
            Term::Attribution { credit } => {
                if credit.trim().is_empty() {
                    return Err(InvalidPayload::new(
                        "attribution terms need a non-empty credit line",
                    ));
                }
                if credit.chars().count() > MAX_CREDIT_CHARS {
                    return Err(InvalidPayload::new(format!(
                        "credit line is longer than {MAX_CREDIT_CHARS} characters"
                    )));
                }
                if credit.contains('\0') {
                    return Err(InvalidPayload::new("credit line contains U+0000"));
                }
            }
            Term::FlatFee { amount } => validate_money(amount, false)?,
            Term::RevenueShare { minimum } => {
                if let Some(m) = minimum {
                    validate_money(m, false)?;
                }
            }
        }
    }
    if seen.contains(&"free") && (seen.contains(&"flat-fee") || seen.contains(&"revenue-share")) {
        return Err(InvalidPayload::new(
            "`free` cannot be combined with `flat-fee` or `revenue-share`",
        ));
    }
    Ok(())
}

pub fn validate_money(money: &Money, allow_zero: bool) -> Result<(), InvalidPayload> {
    if !is_iso4217(&money.currency) {
        return Err(InvalidPayload::new(format!(
            "`{}` is not an ISO 4217 currency code",
            money.currency
        )));
    }
    if money.amount_minor == 0 && !allow_zero {
        return Err(InvalidPayload::new("amounts must be greater than zero"));
    }
    if money.amount_minor > MAX_AMOUNT_MINOR {
        return Err(InvalidPayload::new(format!(
            "amounts above {MAX_AMOUNT_MINOR} minor units are not accepted"
        )));
    }
    Ok(())
}

/// Active ISO 4217 currency codes (list one, 2026), plus the precious-metal and
/// special codes that make no sense for royalties left out.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP",
    "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK",
    "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG",
    "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS",
    "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VED",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Whether `code` is an active ISO 4217 currency code.
#[must_use]
pub fn is_iso4217(code: &str) -> bool {
    ISO_4217.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_table_is_sorted() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
        assert!(is_iso4217("EUR") && !is_iso4217("eur") && !is_iso4217("XYZ"));
    }

    #[test]
    fn rejects_bad_terms() {
        let eur = |n| Money {
            amount_minor: n,
            currency: "EUR".into(),
        };
        assert!(validate_terms(&[Term::FlatFee { amount: eur(0) }]).is_err());
        assert!(validate_terms(&[Term::Free {}, Term::RevenueShare { minimum: None }]).is_err());
        assert!(validate_terms(&[Term::Free {}, Term::Free {}]).is_err());
        assert!(validate_terms(&[Term::Attribution { credit: " ".into() }]).is_err());
        assert!(validate_terms(&[Term::FlatFee {
            amount: eur(MAX_AMOUNT_MINOR + 1)
        }])
        .is_err());
        assert!(validate_terms(&[
            Term::Attribution {
                credit: "Ana".into()
            },
            Term::FlatFee { amount: eur(5000) }
        ])
        .is_ok());
    }
}
