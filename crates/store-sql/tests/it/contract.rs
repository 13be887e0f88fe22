//! One test per contract function, each on a fresh SQLite database and, when
//! `LEADLINE_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database too.

use leadline_store::contract;
use leadline_store_sql::testing::{fresh_postgres, fresh_sqlite};

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let db = fresh_sqlite().await;
                contract::$name(&*db.store).await;
                if let Some(db) = fresh_postgres().await {
                    contract::$name(&*db.store).await;
                }
            }
        )*

        const COVERED: &[&str] = &[$(stringify!($name)),*];
    };
}

contract_tests!(
    sign_up_creates_user_account_and_owner,
    sign_up_duplicate_email_conflicts_and_leaves_nothing,
    create_account_adds_an_owned_account,
    profile_update_round_trips,
    account_status_changes,
    list_and_delete_accounts_keeps_audit,
    users_by_email_and_google_subject,
    memberships_and_last_owner_protection,
    sessions_expire_touch_switch_and_delete,
    invitations_pending_token_accept_revoke,
    api_keys_lookup_touch_revoke,
    secrets_upsert_list_and_rotation,
    audit_chain_verifies_and_pages,
    password_reset_single_use_and_expiry,
    login_throttle_window_and_clear,
    compliance_history_state_and_suppression,
    tenant_isolation,
    channels_create_list_lookup_enable,
    leads_upsert_by_phone_and_update,
    leads_list_search_and_paging,
    leads_sort_filter_and_batch_compliance,
    conversations_filter_for_the_inbox,
    lead_delete_cascades,
    inbound_is_idempotent_and_creates_lead_and_conversation,
    conversations_find_or_create_flags_and_listing,
    outbound_enqueue_is_idempotent_with_jobs,
    outbound_claim_due_leased_and_expired,
    outbound_concurrent_claimers_never_share,
    outbound_sent_reschedule_finish,
    delivery_status_only_moves_forward,
    supersede_touches_only_waiting_ai_replies,
    inbound_with_scheduled_reply_is_one_write,
    append_jobs_adds_all_or_nothing,
    turns_record_lead_changes_and_count_tokens,
    lookups_find_without_creating,
    unknown_outcome_sends_reconcile_by_key,
    sent_to_phone_since_counts_accepted_sends,
    jobs_debounce_claim_retry,
    inbound_schedules_the_summary_job,
    summaries_record_latest_and_list,
    handoff_notifications_and_deliveries,
    notification_prefs_per_member,
    job_completed_while_rearmed_runs_again,
    jobs_concurrent_claimers_never_share,
    messaging_tenant_isolation,
    account_deletion_removes_messaging_rows,
    settings_round_trip_audited_and_scoped,
    setting_versions_count_up_per_account_and_key,
    health_is_ready,
    analytics_counts_days_funnel_and_first_response,
    analytics_days_follow_the_account_zone,
    analytics_rollups_follow_every_change,
);

#[test]
fn every_contract_function_has_a_test() {
    let listed: Vec<&str> = contract::ALL.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        listed, COVERED,
        "add new contract functions to contract_tests!"
    );
}

/// The whole suite on one database: no contract test may assume it runs alone.
#[tokio::test]
async fn whole_suite_shares_one_database() {
    let db = fresh_sqlite().await;
    contract::run_all(&*db.store).await;
    if let Some(db) = fresh_postgres().await {
        contract::run_all(&*db.store).await;
    }
}
