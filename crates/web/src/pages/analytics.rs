//! Analytics: for a date range and optionally one channel, the lead funnel, reply rate, median
//! time to first response, messages per day, opt-outs, segments and their estimated cost, and
//! hand-offs. Charts are SVG drawn here on the server (no script), each with a CSV download.
//!
//! The range is whole days in the account's zone (the zone of the business phone's area code,
//! UTC when there is none). The counting is the store's (`AnalyticsStore`), done in SQL; this
//! module parses the request, fills in empty days and draws. The JSON API calls [`analytics`] too.

use super::{Chrome, FormState, PageResult, render, render_status};
use crate::auth::AccountCtx;
use crate::csrf::CsrfToken;
use crate::error::{AppError, FieldError};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::IntoResponse;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};
use leadline_domain::ids::ChannelId;
use leadline_store::{Account, AnalyticsQuery, AnalyticsReport, DayActivity, DayBuckets, Funnel};
use std::fmt::Write as _;

/// Estimated carrier cost of one SMS segment, in millionths of a dollar: $0.0079, a typical US
/// long-code price. An estimate shown as such; real invoices come from the provider.
pub const COST_PER_SEGMENT_MICRO_USD: u64 = 7_900;
/// Default range: the last 30 days, today included.
const DEFAULT_DAYS: i64 = 30;
/// Longest range: a year, which keeps every query and chart bounded.
const MAX_DAYS: i64 = 366;

/// The request, as typed: dates `YYYY-MM-DD` (both inclusive) and a channel id.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsParams {
    /// First day, `YYYY-MM-DD` in the account's zone; default 29 days before `to`.
    pub from: Option<String>,
    /// Last day (included), `YYYY-MM-DD`; default today.
    pub to: Option<String>,
    /// Only this channel's conversations; default all.
    pub channel: Option<String>,
}

/// A computed analytics view: the validated range and the store's report, days filled in.
#[derive(Debug, Clone)]
pub struct Analytics {
    pub from: Date,
    pub to: Date,
    pub zone: String,
    pub channel: Option<ChannelId>,
    pub report: AnalyticsReport,
    /// Every day of the range, oldest first, zero where nothing happened.
    pub days: Vec<DayActivity>,
}

impl Analytics {
    pub fn funnel(&self) -> Funnel {
        self.report.funnel
    }
    pub fn sent(&self) -> u64 {
        self.report.total(|d| d.sent)
    }
    pub fn delivered(&self) -> u64 {
        self.report.total(|d| d.delivered)
    }
    pub fn failed(&self) -> u64 {
        self.report.total(|d| d.failed)
    }
    pub fn inbound(&self) -> u64 {
        self.report.total(|d| d.inbound)
    }
    pub fn segments(&self) -> u64 {
        self.report.total(|d| d.segments)
    }
    pub fn estimated_cost_micro_usd(&self) -> u64 {
        self.segments().saturating_mul(COST_PER_SEGMENT_MICRO_USD)
    }
    /// Replied / contacted, of the leads created in the range.
    pub fn reply_rate(&self) -> Option<f64> {
        ratio(self.report.funnel.replied, self.report.funnel.contacted)
    }
    /// Of the leads created in the range, the share whose number opted out.
    pub fn opt_out_rate(&self) -> Option<f64> {
        ratio(self.report.funnel.opted_out, self.report.funnel.new)
    }
    pub fn is_empty(&self) -> bool {
        self.report.days.is_empty()
            && self.report.funnel.new == 0
            && self.report.opt_outs == 0
            && self.report.handoffs == 0
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

use crate::messaging::account_zone;

fn field(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn parse_day(name: &str, raw: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Date> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty())?;
    match raw.parse::<Date>() {
        Ok(d) if (2000..=2200).contains(&d.year()) => Some(d),
        _ => {
            errors.push(field(
                name,
                format!(
                    "'{}' is not a date; use YYYY-MM-DD",
                    raw.chars().take(40).collect::<String>()
                ),
            ));
            None
        }
    }
}

fn midnight(day: Date, zone: &TimeZone) -> Result<Timestamp, AppError> {
    day.to_zoned(zone.clone())
        .map(|z| z.timestamp())
        .map_err(AppError::internal)
}

fn add_days(day: Date, n: i64) -> Date {
    day.checked_add(Span::new().days(n)).unwrap_or(day)
}

/// Validates the request and computes the view. Bad input is a 422 naming the field.
pub async fn analytics(
    state: &AppState,
    account: &Account,
    params: &AnalyticsParams,
) -> Result<Analytics, AppError> {
    let (zone, zone_name) = account_zone(account);
    let today = Timestamp::now().to_zoned(zone.clone()).date();
    let mut errors = Vec::new();
    let to = parse_day("to", params.to.as_deref(), &mut errors);
    let from = parse_day("from", params.from.as_deref(), &mut errors);
    let channel = match params.channel.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let mine = state.store.list_channels(account.id).await?;
            match raw.parse::<ChannelId>() {
                Ok(id) if mine.iter().any(|c| c.id == id) => Some(id),
                _ => {
                    errors.push(field("channel", "is not one of this account's channels"));
                    None
                }
            }
        }
    };
    if !errors.is_empty() {
        return Err(AppError::validation("Some fields need attention.", errors));
    }
    let to = to.unwrap_or(today);
    let from = from.unwrap_or_else(|| add_days(to, 1 - DEFAULT_DAYS));
    if from > to {
        return Err(AppError::field("from", "must be on or before the end date"));
    }
    if add_days(from, MAX_DAYS) <= to {
        return Err(AppError::field(
            "from",
            format!("the range may span at most {MAX_DAYS} days"),
        ));
    }
    let (start, end) = (midnight(from, &zone)?, midnight(add_days(to, 1), &zone)?);
    let report = state
        .store
        .analytics_report(&AnalyticsQuery {
            account: account.id,
            from: start,
            to: end,
            channel,
            days: DayBuckets::for_zone(&zone, start, end),
        })
        .await?;
    let mut days = Vec::new();
    let mut counted = report.days.iter().peekable();
    let mut day = from;
    while day <= to {
        match counted.next_if(|d| d.date == day) {
            Some(d) => days.push(*d),
            None => days.push(DayActivity {
                date: day,
                inbound: 0,
                sent: 0,
                delivered: 0,
                failed: 0,
                segments: 0,
            }),
        }
        day = add_days(day, 1);
    }
    Ok(Analytics {
        from,
        to,
        zone: zone_name,
        channel,
        report,
        days,
    })
}

// ---------------------------------------------------------------------------------------------
// Formatting

pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

pub fn duration_text(d: Option<SignedDuration>) -> String {
    let Some(d) = d else {
        return "—".to_owned();
    };
    let secs = d.as_secs().max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h {:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

pub fn dollars(micro_usd: u64) -> String {
    let cents = (micro_usd + 5_000) / 10_000;
    format!("${}.{:02}", cents / 100, cents % 100)
}

// ---------------------------------------------------------------------------------------------
// Charts: plain SVG, coloured by classes that use the stylesheet's variables.

/// A round axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_max(max: u64) -> u64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max.max(1) {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// One series of the daily chart: CSS class suffix, label, and the day's value.
type Series = (&'static str, &'static str, fn(&DayActivity) -> u64);

const DAILY_SERIES: [Series; 4] = [
    ("sent", "Sent", |d| d.sent),
    ("delivered", "Delivered", |d| d.delivered),
    ("failed", "Failed", |d| d.failed),
    ("inbound", "Received", |d| d.inbound),
];

fn daily_svg(days: &[DayActivity], zone: &str) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 260.0, 48.0, 12.0, 16.0, 48.0);
    let (plot_w, plot_h) = (w - left - right, h - top - bottom);
    let max = nice_max(
        days.iter()
            .flat_map(|d| DAILY_SERIES.iter().map(move |(_, _, f)| f(d)))
            .max()
            .unwrap_or(0),
    );
    let group = plot_w / days.len().max(1) as f64;
    let bar = (group * 0.8 / DAILY_SERIES.len() as f64).max(0.5);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="daily-title daily-desc"><title id="daily-title">Messages per day</title><desc id="daily-desc">Messages sent, delivered, failed and received each day in {zone}; the CSV download has the numbers.</desc>"#
    );
    for tick in [0, max / 2, max] {
        let y = top + plot_h - plot_h * tick as f64 / max as f64;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{tick}</text>"#,
            w - right,
            left - 6.0,
            y + 4.0
        );
    }
    let every = days.len().div_ceil(8).max(1);
    for (i, d) in days.iter().enumerate() {
        let x0 = left + group * i as f64 + group * 0.1;
        for (k, (class, label, f)) in DAILY_SERIES.iter().enumerate() {
            let v = f(d);
            if v == 0 {
                continue;
            }
            let bh = plot_h * v as f64 / max as f64;
            let _ = write!(
                s,
                r#"<rect class="bar bar-{class}" x="{:.1}" y="{:.1}" width="{bar:.1}" height="{bh:.1}"><title>{}: {v} {}</title></rect>"#,
                x0 + bar * k as f64,
                top + plot_h - bh,
                d.date,
                label.to_lowercase()
            );
        }
        if i % every == 0 {
            let _ = write!(
                s,
                r#"<text class="tick" x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
                left + group * (i as f64 + 0.5),
                top + plot_h + 16.0,
                d.date.strftime("%b %-d")
            );
        }
    }
    let _ = write!(
        s,
        r#"<line class="axis" x1="{left}" x2="{}" y1="{y}" y2="{y}"/><text class="axis-label" x="{}" y="{}" text-anchor="middle">Day ({zone})</text><text class="axis-label" transform="translate(12 {}) rotate(-90)" text-anchor="middle">Messages</text></svg>"#,
        w - right,
        left + plot_w / 2.0,
        h - 8.0,
        top + plot_h / 2.0,
        y = top + plot_h,
    );
    s
}

fn funnel_steps(f: Funnel) -> [(&'static str, u64); 5] {
    [
        ("New", f.new),
        ("Contacted", f.contacted),
        ("Replied", f.replied),
        ("Qualified", f.qualified),
        ("Booked", f.booked),
    ]
}

fn funnel_svg(f: Funnel) -> String {
    let (w, left, right, row) = (720.0, 96.0, 140.0, 36.0);
    let h = row * 5.0 + 36.0;
    let plot_w = w - left - right;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="funnel-title funnel-desc"><title id="funnel-title">Lead funnel</title><desc id="funnel-desc">Of the leads created in the range, how many were contacted, replied, qualified and booked.</desc>"#
    );
    for (i, (label, v)) in funnel_steps(f).into_iter().enumerate() {
        let y = 8.0 + row * i as f64;
        let bw = if f.new == 0 {
            0.0
        } else {
            plot_w * v.min(f.new) as f64 / f.new as f64
        };
        let _ = write!(
            s,
            r#"<text class="tick" x="{}" y="{:.1}" text-anchor="end">{label}</text><rect class="bar bar-funnel" x="{left}" y="{y:.1}" width="{bw:.1}" height="{:.1}"><title>{label}: {v}</title></rect><text class="value" x="{:.1}" y="{:.1}">{v} ({})</text>"#,
            left - 8.0,
            y + row * 0.5 + 4.0,
            row - 10.0,
            left + bw + 6.0,
            y + row * 0.5 + 4.0,
            percent(ratio(v, f.new))
        );
    }
    let _ = write!(
        s,
        r#"<text class="axis-label" x="{}" y="{}" text-anchor="middle">Leads created in the range</text></svg>"#,
        left + plot_w / 2.0,
        h - 6.0
    );
    s
}

// ---------------------------------------------------------------------------------------------
// The page

pub struct ChannelOption {
    pub id: String,
    pub name: String,
    pub selected: bool,
}

pub struct Headline {
    pub reply_rate: String,
    pub first_response: String,
    pub first_response_note: String,
    pub opt_out_rate: String,
    pub opt_outs: u64,
    pub segments: u64,
    pub cost: String,
    pub handoffs: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failed: u64,
    pub inbound: u64,
}

pub struct Charts {
    pub daily_svg: String,
    pub funnel_svg: String,
    pub daily_csv: String,
    pub funnel_csv: String,
    pub empty: bool,
}

#[derive(Template)]
#[template(path = "app/analytics.html")]
struct AnalyticsPage {
    chrome: Chrome,
    form: FormState,
    channels: Vec<ChannelOption>,
    zone: String,
    headline: Option<Headline>,
    charts: Option<Charts>,
    cost_per_segment: &'static str,
}

fn csv_link(chart: &str, a: &Analytics) -> String {
    let mut link = format!(
        "/app/analytics.csv?chart={chart}&from={}&to={}",
        a.from, a.to
    );
    if let Some(c) = a.channel {
        let _ = write!(link, "&channel={c}");
    }
    link
}

fn headline(a: &Analytics) -> Headline {
    let fr = a.report.first_response;
    Headline {
        reply_rate: percent(a.reply_rate()),
        first_response: duration_text(fr.median),
        first_response_note: format!(
            "{} conversations answered, {} waiting",
            fr.answered, fr.unanswered
        ),
        opt_out_rate: percent(a.opt_out_rate()),
        opt_outs: a.report.opt_outs,
        segments: a.segments(),
        cost: dollars(a.estimated_cost_micro_usd()),
        handoffs: a.report.handoffs,
        sent: a.sent(),
        delivered: a.delivered(),
        failed: a.failed(),
        inbound: a.inbound(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    ctx: AccountCtx,
    csrf: axum::Extension<CsrfToken>,
    Query(params): Query<AnalyticsParams>,
) -> PageResult {
    let (_, zone) = account_zone(&ctx.account);
    let result = analytics(&state, &ctx.account, &params).await;
    let selected = match &result {
        Ok(a) => a.channel.map(|c| c.to_string()),
        Err(_) => params.channel.clone(),
    };
    let channels = state
        .store
        .list_channels(ctx.account.id)
        .await?
        .into_iter()
        .map(|c| ChannelOption {
            selected: selected.as_deref() == Some(c.id.to_string().as_str()),
            id: c.id.to_string(),
            name: c.name,
        })
        .collect();
    let chrome = Chrome::new(&ctx, &csrf, "analytics", None);
    match result {
        Ok(a) => Ok(render(&AnalyticsPage {
            chrome,
            form: FormState::with_values([("from", a.from.to_string()), ("to", a.to.to_string())]),
            channels,
            zone: a.zone.clone(),
            headline: Some(headline(&a)),
            charts: Some(Charts {
                daily_svg: daily_svg(&a.days, &a.zone),
                funnel_svg: funnel_svg(a.funnel()),
                daily_csv: csv_link("daily", &a),
                funnel_csv: csv_link("funnel", &a),
                empty: a.is_empty(),
            }),
            cost_per_segment: "$0.0079",
        })),
        Err(e) if e.status.is_client_error() => {
            let form = FormState::with_values([
                ("from", params.from.clone().unwrap_or_default()),
                ("to", params.to.clone().unwrap_or_default()),
            ])
            .fail(&e);
            Ok(render_status(
                e.status,
                &AnalyticsPage {
                    chrome,
                    form,
                    channels,
                    zone,
                    headline: None,
                    charts: None,
                    cost_per_segment: "$0.0079",
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CsvParams {
    chart: Option<String>,
    #[serde(flatten)]
    params: AnalyticsParams,
}

/// `daily`: one row per day of the range; `funnel`: one row per stage.
pub fn csv_body(chart: &str, a: &Analytics) -> Option<String> {
    let mut out = String::new();
    match chart {
        "daily" => {
            out.push_str("date,inbound,sent,delivered,failed,segments\r\n");
            for d in &a.days {
                let _ = write!(
                    out,
                    "{},{},{},{},{},{}\r\n",
                    d.date, d.inbound, d.sent, d.delivered, d.failed, d.segments
                );
            }
        }
        "funnel" => {
            out.push_str("stage,leads,percent_of_new\r\n");
            let f = a.funnel();
            for (label, v) in funnel_steps(f) {
                let pct = ratio(v, f.new).map_or(String::new(), |r| format!("{:.1}", r * 100.0));
                let _ = write!(out, "{},{v},{pct}\r\n", label.to_lowercase());
            }
        }
        _ => return None,
    }
    Some(out)
}

pub async fn csv(
    State(state): State<AppState>,
    ctx: AccountCtx,
    Query(q): Query<CsvParams>,
) -> PageResult {
    let chart = q.chart.unwrap_or_default();
    if !matches!(chart.as_str(), "daily" | "funnel") {
        return Err(AppError::field("chart", "must be daily or funnel").into());
    }
    let a = analytics(&state, &ctx.account, &q.params).await?;
    let body = csv_body(&chart, &a).ok_or_else(AppError::not_found)?;
    Ok((
        StatusCode::OK,
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"analytics-{chart}-{}-to-{}.csv\"",
                    a.from, a.to
                ),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maximum_and_formats() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(101), 200);
        assert_eq!(dollars(7_900 * 3), "$0.02");
        assert_eq!(dollars(7_900 * 1000), "$7.90");
        assert_eq!(
            duration_text(Some(SignedDuration::from_secs(610))),
            "10m 10s"
        );
        assert_eq!(duration_text(None), "—");
        assert_eq!(percent(Some(0.5)), "50.0%");
    }
}
