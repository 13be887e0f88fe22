//! Analytics over the API: the numbers behind the dashboard's Analytics page, computed by the
//! same code.

use super::ErrorBody;
use crate::auth::ApiCtx;
use crate::error::AppError;
use crate::pages::analytics::{self, AnalyticsParams, COST_PER_SEGMENT_MICRO_USD};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct FunnelDto {
    /// Leads created in the range (with a channel: those with a conversation on it).
    new: u64,
    /// Of those, sent at least one message (or staged contacted or later).
    contacted: u64,
    /// Answered after the first message sent to them (or staged replied or later).
    replied: u64,
    /// Staged qualified or booked.
    qualified: u64,
    /// Staged booked.
    booked: u64,
    /// Of the leads created in the range, those whose number opted out since it began.
    opted_out: u64,
}

#[derive(Serialize, ToSchema)]
pub struct AnalyticsDay {
    /// `YYYY-MM-DD` in the account's zone.
    date: String,
    inbound: u64,
    /// Outbound messages the provider accepted that day.
    sent: u64,
    /// Of those, now delivered or read.
    delivered: u64,
    /// Outbound messages now failed or undelivered.
    failed: u64,
    /// Segments of the messages sent.
    segments: u64,
}

#[derive(Serialize, ToSchema)]
pub struct AnalyticsDto {
    /// First day of the range, `YYYY-MM-DD`.
    from: String,
    /// Last day of the range (included).
    to: String,
    /// IANA zone the days are in: the business phone's, or UTC.
    time_zone: String,
    channel: Option<String>,
    funnel: FunnelDto,
    /// replied / contacted; absent when nobody was contacted.
    reply_rate: Option<f64>,
    /// Median seconds from a conversation's first inbound message to the first reply sent.
    median_first_response_seconds: Option<i64>,
    conversations_answered: u64,
    conversations_unanswered: u64,
    /// Distinct numbers that opted out in the range.
    opt_outs: u64,
    /// funnel.opted_out / funnel.new; absent when no lead was created in the range.
    opt_out_rate: Option<f64>,
    segments_sent: u64,
    /// The estimate's price per segment, in US dollars.
    cost_per_segment_usd: f64,
    estimated_cost_usd: f64,
    /// Times the assistant handed a conversation to a person in the range.
    handoffs: u64,
    /// Every day of the range, oldest first.
    days: Vec<AnalyticsDay>,
}

#[utoipa::path(get, path = "/api/v1/analytics", tag = "analytics", params(AnalyticsParams),
    responses((status = 200, body = AnalyticsDto), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn get_analytics(
    State(state): State<AppState>,
    ctx: ApiCtx,
    q: Result<Query<AnalyticsParams>, QueryRejection>,
) -> Result<Json<AnalyticsDto>, AppError> {
    let Query(params) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let account = state.store.get_account(ctx.account_id()).await?;
    let a = analytics::analytics(&state, &account, &params).await?;
    let f = a.funnel();
    let fr = a.report.first_response;
    Ok(Json(AnalyticsDto {
        from: a.from.to_string(),
        to: a.to.to_string(),
        time_zone: a.zone.clone(),
        channel: a.channel.map(|c| c.to_string()),
        funnel: FunnelDto {
            new: f.new,
            contacted: f.contacted,
            replied: f.replied,
            qualified: f.qualified,
            booked: f.booked,
            opted_out: f.opted_out,
        },
        reply_rate: a.reply_rate(),
        median_first_response_seconds: fr.median.map(|d| d.as_secs()),
        conversations_answered: fr.answered,
        conversations_unanswered: fr.unanswered,
        opt_outs: a.report.opt_outs,
        opt_out_rate: a.opt_out_rate(),
        segments_sent: a.segments(),
        cost_per_segment_usd: COST_PER_SEGMENT_MICRO_USD as f64 / 1e6,
        estimated_cost_usd: a.estimated_cost_micro_usd() as f64 / 1e6,
        handoffs: a.report.handoffs,
        days: a
            .days
            .iter()
            .map(|d| AnalyticsDay {
                date: d.date.to_string(),
                inbound: d.inbound,
                sent: d.sent,
                delivered: d.delivered,
                failed: d.failed,
                segments: d.segments,
            })
            .collect(),
    }))
}
