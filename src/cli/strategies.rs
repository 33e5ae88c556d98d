//! `strategies`: every weighting strategy as a Markdown table, from its own info.

use super::*;

/// The first sentence of a paragraph.
pub(super) fn first_sentence(text: &str) -> &str {
    text.find(". ").map_or(text, |i| &text[..=i])
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
    let with_option: Vec<String> = crate::weighting::methods()
        .filter(|m| crate::weighting::crmogm::supports(m))
        .map(|m| format!("`{}`", m.key))
        .collect();
    let option = &crate::weighting::crmogm::CR_MOGM_ALPHA;
    stdout_line("")?;
    stdout_line(&format!(
        "Option of the gradient strategies {}: `{}`={} ({}).",
        with_option.join(", "),
        option.name,
        option.default,
        option.help.trim_end_matches('.')
    ))?;
    Ok(())
}
