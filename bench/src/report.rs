//! The table every section adds its figures to, printed as text and as Markdown.

use std::fmt::Write as _;

/// Whether a figure meets its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Met,
    Missed,
    /// No target: context (the floor, the Node.js equivalent, a rate).
    Info,
    /// The figure could not be measured.
    Failed,
}

impl Verdict {
    pub fn of(met: bool) -> Verdict {
        if met { Verdict::Met } else { Verdict::Missed }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "ok",
            Verdict::Missed => "MISSED",
            Verdict::Info => "",
            Verdict::Failed => "FAILED",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub section: String,
    pub figure: String,
    pub value: String,
    pub target: String,
    /// The floor or the comparison the value reads against.
    pub against: String,
    pub verdict: Verdict,
}

#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    /// Adds a row and prints it at once (a long run shows progress).
    pub fn add(
        &mut self,
        section: &str,
        figure: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        against: impl Into<String>,
        verdict: Verdict,
    ) {
        let row = Row {
            section: section.to_owned(),
            figure: figure.into(),
            value: value.into(),
            target: target.into(),
            against: against.into(),
            verdict,
        };
        eprintln!(
            "  {} | {} | {} | {} | {} {}",
            row.section,
            row.figure,
            row.value,
            row.target,
            row.against,
            row.verdict.label()
        );
        self.rows.push(row);
    }

    /// A figure that could not be measured, with why.
    pub fn failed(&mut self, section: &str, figure: &str, target: &str, why: &str) {
        self.add(section, figure, "—", target, why, Verdict::Failed);
    }

    /// A remark printed under the table.
    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("  note: {note}");
        self.notes.push(note);
    }

    pub fn missed(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|row| matches!(row.verdict, Verdict::Missed | Verdict::Failed))
    }

    /// Aligned text for the terminal.
    pub fn text(&self) -> String {
        let headers = [
            "section",
            "figure",
            "value",
            "target",
            "floor / against",
            "",
        ];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|row| {
                [
                    row.section.clone(),
                    row.figure.clone(),
                    row.value.clone(),
                    row.target.clone(),
                    row.against.clone(),
                    row.verdict.label().to_owned(),
                ]
            })
            .collect();
        let mut widths = headers.map(|h| h.chars().count());
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, row: &[String]| {
            let mut text = String::new();
            for (cell, width) in row.iter().zip(widths) {
                let pad = width - cell.chars().count();
                let _ = write!(text, "{cell}{}  ", " ".repeat(pad));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&mut out, &headers.map(str::to_owned));
        line(&mut out, &widths.map(|w| "-".repeat(w)));
        for row in &cells {
            line(&mut out, row);
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// A Markdown table (for BENCHMARKS.md).
    pub fn markdown(&self) -> String {
        let mut out = String::from("| section | figure | value | target | floor / against | |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- |\n");
        for row in &self.rows {
            let escape = |text: &str| text.replace('|', "\\|");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                escape(&row.section),
                escape(&row.figure),
                escape(&row.value),
                escape(&row.target),
                escape(&row.against),
                row.verdict.label()
            );
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}

/// `12.34 ms` style, for milliseconds.
pub fn ms(value: f64) -> String {
    if value.is_nan() {
        "—".to_owned()
    } else if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// KiB (as the kernel counts) as `3.21 MB`: decimal megabytes, the stricter reading of a target.
pub fn mb(kib: f64) -> String {
    if kib.is_nan() {
        "—".to_owned()
    } else {
        format!("{:.2} MB", kib * 1024.0 / 1e6)
    }
}

/// A target in decimal megabytes, in KiB.
pub fn mb_in_kib(megabytes: f64) -> f64 {
    megabytes * 1e6 / 1024.0
}
