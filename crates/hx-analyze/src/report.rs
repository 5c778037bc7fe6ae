//! `report.html`: one self-contained page per run (figures inlined as base64
//! PNG, no scripts, no network), so it can be mailed or opened years later.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// A figure as the report shows it.
pub struct ReportFigure {
    /// File stem under `plots/` (also the HTML anchor).
    pub stem: String,
    /// The figure's title.
    pub title: String,
    /// One sentence on how to read it.
    pub caption: String,
    /// The PNG bytes.
    pub png: Vec<u8>,
    /// The analysis table behind it, relative to the run directory.
    pub table: String,
    /// The folder holding `{stem}.png` and `{stem}.svg`, relative to the run
    /// directory: `plots` for the analysis's own figures,
    /// `landscape/<name>/plots` for hx-landscape's.
    pub folder: String,
}

impl ReportFigure {
    /// The figure's HTML id: its stem for the analysis's figures, folder and
    /// stem otherwise (two surfaces draw figures of the same stem).
    pub fn anchor(&self) -> String {
        if self.folder == "plots" { self.stem.clone() } else { format!("{}/{}", self.folder, self.stem) }
    }
}

/// A table of numbers the report shows in full (not a figure).
pub struct ReportTable {
    /// HTML anchor.
    pub id: String,
    /// Heading.
    pub title: String,
    /// One sentence on how to read it.
    pub caption: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, already formatted.
    pub rows: Vec<Vec<String>>,
}

/// Everything the report shows.
pub struct Report<'a> {
    /// Run directory name.
    pub run: &'a str,
    /// `model / dataset / corruption` line, if known.
    pub identity: Option<String>,
    /// `(quantity, value)` rows of the key-number table.
    pub key_numbers: &'a [(String, String)],
    /// Sentences about tables that were absent or figures that were skipped.
    pub notes: &'a [String],
    /// Tables shown in full after the key numbers (trace estimates, eigenpairs).
    pub tables: &'a [ReportTable],
    /// The figures, in reading order.
    pub figures: &'a [ReportFigure],
    /// `config/*.toml` files as `(name, text)`.
    pub configs: &'a [(String, String)],
    /// The analysis's own settings as `(name, value)`.
    pub settings: &'a [(String, String)],
}

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;max-width:1100px;margin:2em auto;\
padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;\
margin-top:2em}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.3em .7em;text-align:left;\
vertical-align:top}th{background:#f5f5f5}figure{margin:2em 0}figure img{max-width:100%;border:1px solid #eee}\
figcaption{margin:.4em 0}.files{color:#666;font-size:.9em}pre{background:#f7f7f7;padding:.8em;overflow-x:auto}\
nav{display:flex;flex-wrap:wrap;gap:.2em .8em}td,.files,nav a,code{overflow-wrap:anywhere}";

/// Render the report as one HTML document.
pub fn render(r: &Report<'_>) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str(&format!(
        "<title>hessx analysis: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(r.run)
    ));
    h.push_str(&format!(
        "<h1>Hessian eigenvector analysis of run <code>{}</code></h1>\n",
        escape(r.run)
    ));
    if let Some(id) = &r.identity {
        h.push_str(&format!("<p>{}</p>\n", escape(id)));
    }
    h.push_str(
        "<p>Question: do the top Hessian eigenvectors stay in a stable subspace while the model is fine-tuned? \
         The PCA, cosine-similarity and subspace-overlap figures answer it; the other figures give the context \
         (curvature, training progress).</p>\n",
    );
    if !r.figures.is_empty() {
        h.push_str("<nav>");
        for f in r.figures {
            // One link per line: links glued together form one unbreakable word wider than the page.
            h.push_str(&format!("\n<a href=\"#{0}\">{0}</a>", escape(&f.anchor())));
        }
        h.push_str("</nav>\n");
    }
    h.push_str("<h2>Key numbers</h2>\n<table>\n<tr><th>quantity</th><th>value</th></tr>\n");
    for (k, v) in r.key_numbers {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>\n",
            escape(k),
            escape(v)
        ));
    }
    h.push_str("</table>\n");
    if !r.notes.is_empty() {
        h.push_str("<h2>Not shown</h2>\n<ul>\n");
        for n in r.notes {
            h.push_str(&format!("<li>{}</li>\n", escape(n)));
        }
        h.push_str("</ul>\n");
    }
    for t in r.tables {
        h.push_str(&format!(
            "<h2 id=\"{}\">{}</h2>\n<p>{}</p>\n<table>\n<tr>",
            escape(&t.id),
            escape(&t.title),
            escape(&t.caption)
        ));
        for c in &t.header {
            h.push_str(&format!("<th>{}</th>", escape(c)));
        }
        h.push_str("</tr>\n");
        for row in &t.rows {
            h.push_str("<tr>");
            for c in row {
                h.push_str(&format!("<td>{}</td>", escape(c)));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Figures</h2>\n");
    for f in r.figures {
        h.push_str(&format!(
            "<figure id=\"{anchor}\">\n<h3>{title}</h3>\n<img alt=\"{title}\" src=\"data:image/png;base64,{png}\">\n\
             <figcaption>{caption}</figcaption>\n<p class=\"files\">{folder}/{stem}.png · {folder}/{stem}.svg · {table}</p>\n</figure>\n",
            anchor = escape(&f.anchor()),
            folder = escape(&f.folder),
            stem = escape(&f.stem),
            title = escape(&f.title),
            png = STANDARD.encode(&f.png),
            caption = escape(&f.caption),
            table = escape(&f.table),
        ));
    }
    h.push_str("<h2>Settings</h2>\n<table>\n<tr><th>analysis setting</th><th>value</th></tr>\n");
    for (k, v) in r.settings {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>\n",
            escape(k),
            escape(v)
        ));
    }
    h.push_str("</table>\n");
    if r.configs.is_empty() {
        h.push_str("<p>No <code>config/*.toml</code> in the run directory: the stages' settings are unknown.</p>\n");
    }
    for (name, text) in r.configs {
        h.push_str(&format!("<details open>\n<summary><code>config/{}</code></summary>\n<pre>{}</pre>\n</details>\n", escape(name), escape(text)));
    }
    h.push_str(&format!(
        "<p class=\"files\">Written by hx-analyze {}.</p>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    ));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_inlines_figures() {
        let figs = [ReportFigure {
            stem: "trace".into(),
            title: "Trace <H>".into(),
            caption: "a & b".into(),
            png: b"\x89PNG".to_vec(),
            table: "analysis/figure_series.parquet".into(),
            folder: "plots".into(),
        }];
        let html = render(&Report {
            run: "r",
            identity: None,
            key_numbers: &[("x".into(), "1".into())],
            notes: &["trace.parquet is absent".into()],
            tables: &[ReportTable {
                id: "t".into(),
                title: "Trace <estimates>".into(),
                caption: "c".into(),
                header: vec!["step".into(), "± s.e.".into()],
                rows: vec![vec!["0".into(), "0.5".into()]],
            }],
            figures: &figs,
            configs: &[("train.toml".into(), "lr = 0.1 # <b>".into())],
            settings: &[],
        });
        assert!(html.contains("id=\"trace\""));
        assert!(html.contains("Trace &lt;H&gt;") && html.contains("a &amp; b"));
        assert!(html.contains(&format!("base64,{}", STANDARD.encode(b"\x89PNG"))));
        assert!(html.contains("lr = 0.1 # &lt;b&gt;"));
        assert!(html.contains("<h2 id=\"t\">Trace &lt;estimates&gt;</h2>"));
        assert!(html.contains("<th>± s.e.</th>") && html.contains("<td>0</td><td>0.5</td>"));
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no network references"
        );
    }
}
