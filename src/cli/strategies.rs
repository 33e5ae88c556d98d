//! `strategies`: every weighting strategy as a Markdown table, from its own info.

use super::*;

/// The first sentence of a paragraph.
pub(super) fn first_sentence(text: &str) -> &str {
    text.find(". ").map_or(text, |i| &text[..=i])
}

/// One line on an option shared by the strategies `supports` accepts: which they are, its
/// name and default (`value`), and what it does.
fn print_option(
    supports: fn(&crate::weighting::MethodInfo) -> bool,
    value: &str,
    help: &str,
) -> Result<(), CliError> {
    let with_option: Vec<String> = crate::weighting::methods()
        .filter(|m| supports(m))
        .map(|m| format!("`{}`", m.key))
        .collect();
    stdout_line(&format!(
        "Option of the gradient strategies {}: {value} ({}).",
        with_option.join(", "),
        help.trim_end_matches('.')
    ))
}

/// Prints every strategy as a Markdown table, from each strategy's info.
pub(super) fn print_strategies() -> Result<(), CliError> {
    use crate::weighting::{Family, RepGrad};
    stdout_line(
        "| key | strategy | family | what it does | paper | hyperparameters (default) | rep_grad |",
    )?;
    stdout_line("| --- | --- | --- | --- | --- | --- | --- |")?;
    for m in crate::weighting::methods() {
        let hypers: Vec<String> = m
            .hypers
            .iter()
            .map(|h| format!("`{}`={}", h.name, h.default))
            .chain(
                m.choices
                    .iter()
                    .map(|c| format!("`{}`={} ({})", c.name, c.default, c.allowed.join(" / "))),
            )
            .collect();
        let family = match m.family {
            Family::Loss => "loss",
            Family::Gradient => "gradient",
        };
        let rep_grad = match m.rep_grad {
            RepGrad::No => "–",
            RepGrad::Allowed => "allowed",
            RepGrad::Required => "required",
        };
        stdout_line(&format!(
            "| `{}` | {} | {family} | {} | {} | {} | {rep_grad} |",
            m.key,
            m.label,
            first_sentence(m.about),
            m.paper,
            if hypers.is_empty() {
                "–".to_owned()
            } else {
                hypers.join(", ")
            }
        ))?;
    }
    stdout_line("")?;
    let cr = &crate::weighting::crmogm::CR_MOGM_ALPHA;
    print_option(
        crate::weighting::crmogm::supports,
        &format!("`{}`={}", cr.name, cr.default),
        cr.help,
    )?;
    for (supports, c) in [
        (
            crate::weighting::per_layer::supports as fn(&crate::weighting::MethodInfo) -> bool,
            &crate::weighting::per_layer::AGGREGATE_PER,
        ),
        (
            crate::weighting::normalize::supports,
            &crate::weighting::normalize::GRAD_NORMALIZE,
        ),
    ] {
        let value = format!("`{}`={} ({})", c.name, c.default, c.allowed.join(" / "));
        print_option(supports, &value, c.help)?;
    }
    Ok(())
}
