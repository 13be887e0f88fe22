//! The store, written once for both backends. `impl_store!(Type, Database)` expands the same SQL
//! and logic for `SqliteStore` and `PgStore`. Each backend type supplies only what differs:
//! `pool`, `BACKEND`, `migrator()`, `begin_write()` (how a write transaction starts),
//! `lock_account_writes()` (how audited writes of one account are serialised) and `CLAIM_LOCK`
//! (how concurrent claimers of queued work avoid each other; used by `messaging_impl`, whose
//! messaging stores this macro expands too).
//!
//! SQL here must run unchanged on SQLite and PostgreSQL: `$N` placeholders, `RETURNING`,
//! `ON CONFLICT`, no backend-specific functions. Every audited method takes the account's write
//! lock first, so the audit sequence and last-owner checks cannot race.

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::db_error::db_err;
            use $crate::rows::{
                fold_suppression, invitation_state_str, json_text, micros, now_us, one_row, records,
                ts, AccountRow, ApiKeyRow, AuditRow, ComplianceRow, InvitationRow, MemberRow, MembershipRow,
                MembershipWithAccountRow, SecretDbRow, SessionRow, UserRow,
            };
            use async_trait::async_trait;
            use jiff::Timestamp;
            use leadline_domain::audit::{entry_hash, AuditContent, GENESIS};
            use leadline_domain::ids::SessionId;
            use leadline_domain::{
                AccountId, AccountStatus, ApiKeyId, BusinessProfile, E164Phone, Email, InvitationId, Role, UserId,
            };
            use leadline_store::{
                Account, AccountStore, ApiKey, ApiKeyStore, AuditEntry, AuditStore, ComplianceEvent,
                ComplianceStore, ContactCompliance, HealthStore, Invitation, InvitationState, InvitationStore,
                LoginThrottleStore, Member, Membership, MembershipStore, MembershipWithAccount, NewApiKey, NewAudit,
                NewComplianceEvent, NewInvitation, NewSession, NewSignup, NewUser, PasswordResetStore, SecretRow,
                SecretStore, Session, SessionStore, StoreError, StoreResult, User, UserStore,
            };

            type Conn = <$db as sqlx::Database>::Connection;
            type Tx = sqlx::Transaction<'static, $db>;

            const PENDING: &str = "pending";

            impl $store {
                /// A write transaction holding `account`'s write lock.
                async fn begin_audited(&self, account: AccountId) -> StoreResult<Tx> {
                    let mut tx = self.begin_write().await?;
                    Self::lock_account_writes(&mut tx, account).await?;
                    Ok(tx)
                }

                async fn commit(tx: Tx) -> StoreResult<()> {
                    tx.commit().await.map_err(db_err)
                }

                /// Appends to the account's hash chain. Call inside a write transaction.
                async fn append_audit_in(conn: &mut Conn, entry: &NewAudit) -> StoreResult<AuditEntry> {
                    // Taking it again is free on both backends; it keeps a bare append safe.
                    Self::lock_account_writes(conn, entry.account_id).await?;
                    let account = entry.account_id.to_string();
                    let last: Option<(i64, String)> = sqlx::query_as(
                        "SELECT seq, hash FROM audit_log WHERE account_id = $1 ORDER BY seq DESC LIMIT 1",
                    )
                    .bind(&account)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    let (seq, prev_hash) = match last {
                        Some((seq, hash)) => (seq + 1, hash),
                        None => (1, GENESIS.to_owned()),
                    };
                    let content = AuditContent {
                        account_id: account,
                        seq,
                        at_us: now_us(),
                        actor: entry.actor.clone(),
                        action: entry.action.clone(),
                        details: entry.details.clone(),
                    };
                    let hash = entry_hash(&prev_hash, &content);
                    sqlx::query(
                        "INSERT INTO audit_log (account_id, seq, at, actor, action, details, prev_hash, hash) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(&content.account_id)
                    .bind(seq)
                    .bind(content.at_us)
                    .bind(&content.actor)
                    .bind(&content.action)
                    .bind(json_text(&content.details)?)
                    .bind(&prev_hash)
                    .bind(&hash)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    Ok(AuditEntry {
                        account_id: entry.account_id,
                        seq,
                        at: ts(content.at_us, "audit_log.at")?,
                        actor: content.actor,
                        action: content.action,
                        details: content.details,
                        prev_hash,
                        hash,
                    })
                }

                async fn insert_user(conn: &mut Conn, user: &NewUser, now: i64) -> StoreResult<User> {
                    sqlx::query_as::<_, UserRow>(
                        "INSERT INTO users (id, email, name, password_hash, is_platform_admin, google_subject, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
                    )
                    .bind(user.id.to_string())
                    .bind(user.email.as_str())
                    .bind(&user.name)
                    .bind(user.password_hash.as_deref())
                    .bind(false)
                    .bind(user.google_subject.as_deref())
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .into_record()
                }

                /// Creates an account with its owner membership and `account.created` audit entry.
                async fn insert_owned_account(
                    conn: &mut Conn,
                    owner: UserId,
                    id: AccountId,
                    profile: &BusinessProfile,
                    now: i64,
                ) -> StoreResult<Account> {
                    let account = sqlx::query_as::<_, AccountRow>(
                        "INSERT INTO accounts (id, business_name, agent_name, phone, website, industry, description, \
                         products_services, unique_selling_points, license_numbers, licensed_states, status, \
                         created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING *",
                    )
                    .bind(id.to_string())
                    .bind(&profile.business_name)
                    .bind(&profile.agent_name)
                    .bind(profile.phone.as_ref().map(E164Phone::as_str))
                    .bind(profile.website.as_deref())
                    .bind(&profile.industry)
                    .bind(&profile.description)
                    .bind(&profile.products_services)
                    .bind(&profile.unique_selling_points)
                    .bind(&profile.license_numbers)
                    .bind(json_text(&profile.licensed_states)?)
                    .bind(AccountStatus::Active.as_str())
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .into_record()?;
                    Self::insert_membership(conn, id, owner, Role::Owner, now).await?;
                    let audit = NewAudit {
                        account_id: id,
                        actor: format!("user:{owner}"),
                        action: "account.created".to_owned(),
                        details: serde_json::json!({ "business_name": profile.business_name }),
                    };
                    Self::append_audit_in(conn, &audit).await?;
                    Ok(account)
                }

                async fn insert_membership(
                    conn: &mut Conn,
                    account: AccountId,
                    user: UserId,
                    role: Role,
                    now: i64,
                ) -> StoreResult<Membership> {
                    sqlx::query_as::<_, MembershipRow>(
                        "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                         RETURNING *",
                    )
                    .bind(account.to_string())
                    .bind(user.to_string())
                    .bind(role.as_str())
                    .bind(now)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?
                    .into_record()
                }

                /// The member's role; `NotFound` if they are not a member.
                async fn role_of(conn: &mut Conn, account: AccountId, user: UserId) -> StoreResult<Role> {
                    let (role,): (String,) =
                        sqlx::query_as("SELECT role FROM memberships WHERE account_id = $1 AND user_id = $2")
                            .bind(account.to_string())
                            .bind(user.to_string())
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db_err)?
                            .ok_or(StoreError::NotFound)?;
                    $crate::rows::parse(&role, "memberships.role")
                }

                /// Refuses a change that would leave the account without an owner.
                async fn guard_last_owner(conn: &mut Conn, account: AccountId, current: Role) -> StoreResult<()> {
                    if current != Role::Owner {
                        return Ok(());
                    }
                    let (owners,): (i64,) =
                        sqlx::query_as("SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND role = $2")
                            .bind(account.to_string())
                            .bind(Role::Owner.as_str())
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    if owners <= 1 { Err(StoreError::Conflict("last owner".to_owned())) } else { Ok(()) }
                }

                async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
                    let rows: Vec<(i64,)> =
                        sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version")
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_err)?;
                    Ok(rows.into_iter().map(|(v,)| v).collect())
                }

                /// Applies pending migrations; returns the descriptions of those applied now.
                pub(crate) async fn run_migrations(&self) -> StoreResult<Vec<String>> {
                    let migrator = Self::migrator();
                    let before = self.applied_migrations().await.unwrap_or_default();
                    migrator.run(&self.pool).await.map_err(|e| StoreError::Backend(format!("migrations: {e}")))?;
                    Ok(migrator
                        .iter()
                        .filter(|m| !m.migration_type.is_down_migration() && !before.contains(&m.version))
                        .map(|m| format!("{} {}", m.version, m.description))
                        .collect())
                }
            }

            #[async_trait]
            impl AccountStore for $store {
                async fn sign_up(&self, signup: NewSignup) -> StoreResult<(User, Account)> {
                    let now = now_us();
                    let mut tx = self.begin_audited(signup.account_id).await?;
                    let user = Self::insert_user(&mut tx, &signup.user, now).await?;
                    let account =
                        Self::insert_owned_account(&mut tx, user.id, signup.account_id, &signup.profile, now).await?;
                    Self::commit(tx).await?;
                    Ok((user, account))
                }

                async fn create_account(
                    &self,
                    owner: UserId,
                    account_id: AccountId,
                    profile: BusinessProfile,
                ) -> StoreResult<Account> {
                    let mut tx = self.begin_audited(account_id).await?;
                    let account = Self::insert_owned_account(&mut tx, owner, account_id, &profile, now_us()).await?;
                    Self::commit(tx).await?;
                    Ok(account)
                }

                async fn get_account(&self, id: AccountId) -> StoreResult<Account> {
                    sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?
                        .into_record()
                }

                async fn update_profile(
                    &self,
                    id: AccountId,
                    profile: BusinessProfile,
                    audit: NewAudit,
                ) -> StoreResult<Account> {
                    let mut tx = self.begin_audited(id).await?;
                    let account = sqlx::query_as::<_, AccountRow>(
                        "UPDATE accounts SET business_name = $2, agent_name = $3, phone = $4, website = $5, \
                         industry = $6, description = $7, products_services = $8, unique_selling_points = $9, \
                         license_numbers = $10, licensed_states = $11, updated_at = $12 WHERE id = $1 RETURNING *",
                    )
                    .bind(id.to_string())
                    .bind(&profile.business_name)
                    .bind(&profile.agent_name)
                    .bind(profile.phone.as_ref().map(E164Phone::as_str))
                    .bind(profile.website.as_deref())
                    .bind(&profile.industry)
                    .bind(&profile.description)
                    .bind(&profile.products_services)
                    .bind(&profile.unique_selling_points)
                    .bind(&profile.license_numbers)
                    .bind(json_text(&profile.licensed_states)?)
                    .bind(now_us())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_record()?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await?;
                    Ok(account)
                }

                async fn set_account_status(
                    &self,
                    id: AccountId,
                    status: AccountStatus,
                    audit: NewAudit,
                ) -> StoreResult<Account> {
                    let mut tx = self.begin_audited(id).await?;
                    let account = sqlx::query_as::<_, AccountRow>(
                        "UPDATE accounts SET status = $2, updated_at = $3 WHERE id = $1 RETURNING *",
                    )
                    .bind(id.to_string())
                    .bind(status.as_str())
                    .bind(now_us())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_record()?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await?;
                    Ok(account)
                }

                async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
                    let rows = sqlx::query_as::<_, AccountRow>("SELECT * FROM accounts ORDER BY created_at, id")
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    records(rows, AccountRow::into_record)
                }

                async fn delete_account(&self, id: AccountId) -> StoreResult<()> {
                    // Owned rows go by ON DELETE CASCADE, sessions keep the user signed in with no
                    // account (SET NULL), and audit_log has no foreign key, so it stays.
                    let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }
            }

            #[async_trait]
            impl UserStore for $store {
                async fn create_user(&self, user: NewUser) -> StoreResult<User> {
                    let mut conn = self.pool.acquire().await.map_err(db_err)?;
                    Self::insert_user(&mut conn, &user, now_us()).await
                }

                async fn get_user(&self, id: UserId) -> StoreResult<User> {
                    sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?
                        .into_record()
                }

                async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<User>> {
                    sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE email = $1")
                        .bind(email.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(UserRow::into_record)
                        .transpose()
                }

                async fn find_user_by_google_subject(&self, subject: &str) -> StoreResult<Option<User>> {
                    sqlx::query_as::<_, UserRow>("SELECT * FROM users WHERE google_subject = $1")
                        .bind(subject)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(UserRow::into_record)
                        .transpose()
                }

                async fn set_password_hash(&self, id: UserId, hash: &str) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(hash)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn set_google_subject(&self, id: UserId, subject: &str) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE users SET google_subject = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(subject)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn set_platform_admin(&self, id: UserId, admin: bool) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE users SET is_platform_admin = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(admin)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }
            }

            #[async_trait]
            impl MembershipStore for $store {
                async fn get_membership(&self, account: AccountId, user: UserId) -> StoreResult<Membership> {
                    sqlx::query_as::<_, MembershipRow>(
                        "SELECT * FROM memberships WHERE account_id = $1 AND user_id = $2",
                    )
                    .bind(account.to_string())
                    .bind(user.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_record()
                }

                async fn memberships_of_user(&self, user: UserId) -> StoreResult<Vec<MembershipWithAccount>> {
                    let rows = sqlx::query_as::<_, MembershipWithAccountRow>(
                        "SELECT m.account_id, a.business_name, a.status, m.role FROM memberships m \
                         JOIN accounts a ON a.id = m.account_id WHERE m.user_id = $1 \
                         ORDER BY m.created_at, m.account_id",
                    )
                    .bind(user.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, MembershipWithAccountRow::into_record)
                }

                async fn members_of_account(&self, account: AccountId) -> StoreResult<Vec<Member>> {
                    let rows = sqlx::query_as::<_, MemberRow>(
                        "SELECT m.user_id, u.email, u.name, m.role, m.created_at AS joined_at FROM memberships m \
                         JOIN users u ON u.id = m.user_id WHERE m.account_id = $1 ORDER BY m.created_at, m.user_id",
                    )
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, MemberRow::into_record)
                }

                async fn set_role(&self, account: AccountId, user: UserId, role: Role, audit: NewAudit) -> StoreResult<()> {
                    let mut tx = self.begin_audited(account).await?;
                    let current = Self::role_of(&mut tx, account, user).await?;
                    if role != Role::Owner {
                        Self::guard_last_owner(&mut tx, account, current).await?;
                    }
                    sqlx::query("UPDATE memberships SET role = $3 WHERE account_id = $1 AND user_id = $2")
                        .bind(account.to_string())
                        .bind(user.to_string())
                        .bind(role.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await
                }

                async fn remove_member(&self, account: AccountId, user: UserId, audit: NewAudit) -> StoreResult<()> {
                    let mut tx = self.begin_audited(account).await?;
                    let current = Self::role_of(&mut tx, account, user).await?;
                    Self::guard_last_owner(&mut tx, account, current).await?;
                    sqlx::query("DELETE FROM memberships WHERE account_id = $1 AND user_id = $2")
                        .bind(account.to_string())
                        .bind(user.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    // Their sessions no longer point into an account they left.
                    sqlx::query("UPDATE sessions SET account_id = NULL WHERE user_id = $1 AND account_id = $2")
                        .bind(user.to_string())
                        .bind(account.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await
                }
            }

            #[async_trait]
            impl SessionStore for $store {
                async fn create_session(&self, session: NewSession) -> StoreResult<Session> {
                    sqlx::query_as::<_, SessionRow>(
                        "INSERT INTO sessions (id, token_hash, user_id, account_id, created_at, last_seen_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING *",
                    )
                    .bind(session.id.to_string())
                    .bind(&session.token_hash)
                    .bind(session.user_id.to_string())
                    .bind(session.account_id.map(|a| a.to_string()))
                    .bind(now_us())
                    .bind(micros(session.expires_at))
                    .fetch_one(&self.writer)
                    .await
                    .map_err(db_err)?
                    .into_record()
                }

                async fn find_session(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<Option<Session>> {
                    sqlx::query_as::<_, SessionRow>("SELECT * FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                        .bind(token_hash)
                        .bind(micros(now))
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(SessionRow::into_record)
                        .transpose()
                }

                async fn touch_session(&self, id: SessionId, now: Timestamp, expires_at: Timestamp) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(micros(now))
                        .bind(micros(expires_at))
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn set_session_account(&self, id: SessionId, account: AccountId) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE sessions SET account_id = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(account.to_string())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn delete_session(&self, id: SessionId) -> StoreResult<()> {
                    sqlx::query("DELETE FROM sessions WHERE id = $1")
                        .bind(id.to_string())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn delete_user_sessions(&self, user: UserId, keep: Option<SessionId>) -> StoreResult<()> {
                    // No session id is empty, so "" keeps nothing.
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
                        .bind(user.to_string())
                        .bind(keep.map(|k| k.to_string()).unwrap_or_default())
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
                    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                        .bind(micros(now))
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected())
                }
            }

            #[async_trait]
            impl InvitationStore for $store {
                async fn create_invitation(&self, inv: NewInvitation, audit: NewAudit) -> StoreResult<Invitation> {
                    let mut tx = self.begin_audited(inv.account_id).await?;
                    let invitation = sqlx::query_as::<_, InvitationRow>(
                        "INSERT INTO invitations (id, account_id, email, role, invited_by, token_hash, state, created_at, \
                         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *",
                    )
                    .bind(inv.id.to_string())
                    .bind(inv.account_id.to_string())
                    .bind(inv.email.as_str())
                    .bind(inv.role.as_str())
                    .bind(inv.invited_by.to_string())
                    .bind(&inv.token_hash)
                    .bind(PENDING)
                    .bind(now_us())
                    .bind(micros(inv.expires_at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .into_record()?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await?;
                    Ok(invitation)
                }

                async fn list_invitations(&self, account: AccountId) -> StoreResult<Vec<Invitation>> {
                    let rows = sqlx::query_as::<_, InvitationRow>(
                        "SELECT * FROM invitations WHERE account_id = $1 ORDER BY created_at, id",
                    )
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, InvitationRow::into_record)
                }

                async fn get_invitation(&self, account: AccountId, id: InvitationId) -> StoreResult<Invitation> {
                    sqlx::query_as::<_, InvitationRow>("SELECT * FROM invitations WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?
                        .into_record()
                }

                async fn find_invitation_by_token(
                    &self,
                    token_hash: &[u8],
                    now: Timestamp,
                ) -> StoreResult<Option<Invitation>> {
                    sqlx::query_as::<_, InvitationRow>(
                        "SELECT * FROM invitations WHERE token_hash = $1 AND state = $2 AND expires_at > $3",
                    )
                    .bind(token_hash)
                    .bind(PENDING)
                    .bind(micros(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?
                    .map(InvitationRow::into_record)
                    .transpose()
                }

                async fn accept_invitation(&self, id: InvitationId, user: UserId, audit: NewAudit) -> StoreResult<Membership> {
                    // The account is read first so its write lock is taken before any row lock.
                    let (account,): (String,) = sqlx::query_as("SELECT account_id FROM invitations WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?;
                    let account: AccountId = $crate::rows::parse(&account, "invitations.account_id")?;
                    let mut tx = self.begin_audited(account).await?;
                    let invitation = sqlx::query_as::<_, InvitationRow>(
                        "UPDATE invitations SET state = $2 WHERE id = $1 AND state = $3 RETURNING *",
                    )
                    .bind(id.to_string())
                    .bind(invitation_state_str(InvitationState::Accepted))
                    .bind(PENDING)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .ok_or(StoreError::NotFound)?
                    .into_record()?;
                    let membership =
                        Self::insert_membership(&mut tx, account, user, invitation.role, now_us()).await?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await?;
                    Ok(membership)
                }

                async fn revoke_invitation(&self, account: AccountId, id: InvitationId, audit: NewAudit) -> StoreResult<()> {
                    let mut tx = self.begin_audited(account).await?;
                    let done = sqlx::query(
                        "UPDATE invitations SET state = $3 WHERE account_id = $1 AND id = $2 AND state = $4",
                    )
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .bind(invitation_state_str(InvitationState::Revoked))
                    .bind(PENDING)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    one_row(done.rows_affected())?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await
                }
            }

            #[async_trait]
            impl ApiKeyStore for $store {
                async fn create_api_key(&self, key: NewApiKey, audit: NewAudit) -> StoreResult<ApiKey> {
                    let mut tx = self.begin_audited(key.account_id).await?;
                    let created = sqlx::query_as::<_, ApiKeyRow>(
                        "INSERT INTO api_keys (id, account_id, name, role, prefix, token_hash, created_by, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
                    )
                    .bind(key.id.to_string())
                    .bind(key.account_id.to_string())
                    .bind(&key.name)
                    .bind(key.role.as_str())
                    .bind(&key.prefix)
                    .bind(&key.token_hash)
                    .bind(key.created_by.to_string())
                    .bind(now_us())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .into_record()?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await?;
                    Ok(created)
                }

                async fn list_api_keys(&self, account: AccountId) -> StoreResult<Vec<ApiKey>> {
                    let rows = sqlx::query_as::<_, ApiKeyRow>(
                        "SELECT * FROM api_keys WHERE account_id = $1 ORDER BY created_at, id",
                    )
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, ApiKeyRow::into_record)
                }

                async fn find_api_key(&self, token_hash: &[u8]) -> StoreResult<Option<ApiKey>> {
                    sqlx::query_as::<_, ApiKeyRow>("SELECT * FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL")
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .map(ApiKeyRow::into_record)
                        .transpose()
                }

                async fn touch_api_key(&self, id: ApiKeyId, now: Timestamp) -> StoreResult<()> {
                    let done = sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(micros(now))
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())
                }

                async fn revoke_api_key(&self, account: AccountId, id: ApiKeyId, audit: NewAudit) -> StoreResult<()> {
                    let mut tx = self.begin_audited(account).await?;
                    let done = sqlx::query(
                        "UPDATE api_keys SET revoked_at = $3 WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL",
                    )
                    .bind(account.to_string())
                    .bind(id.to_string())
                    .bind(now_us())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    one_row(done.rows_affected())?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await
                }
            }

            #[async_trait]
            impl SecretStore for $store {
                async fn put_secret(&self, row: SecretRow, audit: NewAudit) -> StoreResult<()> {
                    let mut tx = self.begin_audited(row.account_id).await?;
                    // The id is replaced too: a caller may bind the ciphertext to its row id.
                    sqlx::query(
                        "INSERT INTO secrets (id, account_id, purpose, key_id, nonce, ciphertext, last4, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (account_id, purpose) DO UPDATE SET id = excluded.id, key_id = excluded.key_id, \
                         nonce = excluded.nonce, ciphertext = excluded.ciphertext, last4 = excluded.last4, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(row.id.to_string())
                    .bind(row.account_id.to_string())
                    .bind(&row.purpose)
                    .bind(&row.key_id)
                    .bind(&row.nonce)
                    .bind(&row.ciphertext)
                    .bind(&row.last4)
                    .bind(micros(row.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await
                }

                async fn get_secret(&self, account: AccountId, purpose: &str) -> StoreResult<SecretRow> {
                    sqlx::query_as::<_, SecretDbRow>("SELECT * FROM secrets WHERE account_id = $1 AND purpose = $2")
                        .bind(account.to_string())
                        .bind(purpose)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?
                        .ok_or(StoreError::NotFound)?
                        .into_record()
                }

                async fn list_secrets(&self, account: AccountId) -> StoreResult<Vec<SecretRow>> {
                    let rows =
                        sqlx::query_as::<_, SecretDbRow>("SELECT * FROM secrets WHERE account_id = $1 ORDER BY purpose")
                            .bind(account.to_string())
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_err)?;
                    records(rows, SecretDbRow::into_record)
                }

                async fn delete_secret(&self, account: AccountId, purpose: &str, audit: NewAudit) -> StoreResult<()> {
                    let mut tx = self.begin_audited(account).await?;
                    let done = sqlx::query("DELETE FROM secrets WHERE account_id = $1 AND purpose = $2")
                        .bind(account.to_string())
                        .bind(purpose)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                    one_row(done.rows_affected())?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await
                }

                async fn secrets_not_under_key(&self, key_id: &str, limit: u32) -> StoreResult<Vec<SecretRow>> {
                    let rows = sqlx::query_as::<_, SecretDbRow>(
                        "SELECT * FROM secrets WHERE key_id <> $1 ORDER BY account_id, purpose LIMIT $2",
                    )
                    .bind(key_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, SecretDbRow::into_record)
                }

                async fn reseal_secret(&self, row: &SecretRow, old_key_id: &str) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE secrets SET key_id = $3, nonce = $4, ciphertext = $5, updated_at = $6 \
                         WHERE account_id = $1 AND id = $2 AND key_id = $7",
                    )
                    .bind(row.account_id.to_string())
                    .bind(row.id.to_string())
                    .bind(&row.key_id)
                    .bind(&row.nonce)
                    .bind(&row.ciphertext)
                    .bind(micros(row.updated_at))
                    .bind(old_key_id)
                    .execute(&self.writer)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected() == 1)
                }
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn append_audit(&self, entry: NewAudit) -> StoreResult<AuditEntry> {
                    let mut tx = self.begin_audited(entry.account_id).await?;
                    let appended = Self::append_audit_in(&mut tx, &entry).await?;
                    Self::commit(tx).await?;
                    Ok(appended)
                }

                async fn list_audit(&self, account: AccountId, before: Option<i64>, limit: u32) -> StoreResult<Vec<AuditEntry>> {
                    let rows = sqlx::query_as::<_, AuditRow>(
                        "SELECT * FROM audit_log WHERE account_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                    )
                    .bind(account.to_string())
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, AuditRow::into_record)
                }

                async fn audit_chain(&self, account: AccountId) -> StoreResult<Vec<AuditEntry>> {
                    let rows = sqlx::query_as::<_, AuditRow>("SELECT * FROM audit_log WHERE account_id = $1 ORDER BY seq")
                        .bind(account.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db_err)?;
                    records(rows, AuditRow::into_record)
                }

                async fn audited_accounts(&self) -> StoreResult<Vec<AccountId>> {
                    let rows: Vec<(String,)> =
                        sqlx::query_as("SELECT DISTINCT account_id FROM audit_log ORDER BY account_id")
                            .fetch_all(&self.pool)
                            .await
                            .map_err(db_err)?;
                    rows.iter().map(|(id,)| $crate::rows::parse(id, "audit_log.account_id")).collect()
                }
            }

            #[async_trait]
            impl PasswordResetStore for $store {
                async fn create_reset_token(&self, user: UserId, token_hash: &[u8], expires_at: Timestamp) -> StoreResult<()> {
                    sqlx::query("INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
                        .bind(token_hash)
                        .bind(user.to_string())
                        .bind(micros(expires_at))
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }

                async fn consume_reset_token(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<Option<UserId>> {
                    // One statement: two concurrent uses cannot both see it unused.
                    let row: Option<(String,)> = sqlx::query_as(
                        "UPDATE password_resets SET used_at = $2 \
                         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
                    )
                    .bind(token_hash)
                    .bind(micros(now))
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(db_err)?;
                    row.map(|(id,)| $crate::rows::parse(&id, "password_resets.user_id")).transpose()
                }
            }

            #[async_trait]
            impl LoginThrottleStore for $store {
                async fn record_login_failure(&self, keys: &[String], at: Timestamp) -> StoreResult<()> {
                    if keys.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    for key in keys {
                        sqlx::query("INSERT INTO login_failures (key, at) VALUES ($1, $2)")
                            .bind(key)
                            .bind(micros(at))
                            .execute(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    }
                    Self::commit(tx).await
                }

                async fn count_login_failures(&self, key: &str, since: Timestamp) -> StoreResult<u64> {
                    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_failures WHERE key = $1 AND at >= $2")
                        .bind(key)
                        .bind(micros(since))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                    Ok(u64::try_from(count).unwrap_or_default())
                }

                async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
                    sqlx::query("DELETE FROM login_failures WHERE key = $1")
                        .bind(key)
                        .execute(&self.writer)
                        .await
                        .map_err(db_err)?;
                    Ok(())
                }
            }

            #[async_trait]
            impl ComplianceStore for $store {
                async fn append_compliance_event(&self, event: NewComplianceEvent) -> StoreResult<ComplianceEvent> {
                    sqlx::query_as::<_, ComplianceRow>(
                        "INSERT INTO compliance_events (id, account_id, phone, kind, source, details, at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
                    )
                    .bind(event.id.to_string())
                    .bind(event.account_id.to_string())
                    .bind(event.phone.as_str())
                    .bind(event.kind.as_str())
                    .bind(&event.source)
                    .bind(json_text(&event.details)?)
                    .bind(micros(event.at))
                    .fetch_one(&self.writer)
                    .await
                    .map_err(db_err)?
                    .into_record()
                }

                async fn compliance_history(&self, account: AccountId, phone: &E164Phone) -> StoreResult<Vec<ComplianceEvent>> {
                    let rows = sqlx::query_as::<_, ComplianceRow>(
                        "SELECT * FROM compliance_events WHERE account_id = $1 AND phone = $2 ORDER BY at, id",
                    )
                    .bind(account.to_string())
                    .bind(phone.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, ComplianceRow::into_record)
                }

                async fn compliance_state(&self, account: AccountId, phone: &E164Phone) -> StoreResult<ContactCompliance> {
                    Ok(leadline_store::ContactCompliance::from_events(&self.compliance_history(account, phone).await?))
                }

                async fn suppression_list(&self, account: AccountId) -> StoreResult<Vec<E164Phone>> {
                    let rows: Vec<(String, String)> = sqlx::query_as(
                        "SELECT phone, kind FROM compliance_events WHERE account_id = $1 AND kind IN ($2, $3) \
                         ORDER BY phone, at, id",
                    )
                    .bind(account.to_string())
                    .bind(leadline_store::ComplianceEventKind::Suppressed.as_str())
                    .bind(leadline_store::ComplianceEventKind::Unsuppressed.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    fold_suppression(rows)
                }

                async fn recent_compliance_events(&self, account: AccountId, limit: u32) -> StoreResult<Vec<ComplianceEvent>> {
                    let rows = sqlx::query_as::<_, ComplianceRow>(
                        "SELECT * FROM compliance_events WHERE account_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
                    )
                    .bind(account.to_string())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    records(rows, ComplianceRow::into_record)
                }

                async fn compliance_states(
                    &self,
                    account: AccountId,
                    phones: &[E164Phone],
                ) -> StoreResult<std::collections::HashMap<E164Phone, leadline_store::ContactCompliance>> {
                    let mut events: std::collections::HashMap<E164Phone, Vec<ComplianceEvent>> =
                        std::collections::HashMap::new();
                    // Chunks keep the parameter count far below both backends' limits.
                    for chunk in phones.chunks(500) {
                        let sql = format!(
                            "SELECT * FROM compliance_events WHERE account_id = $1 AND phone IN ({}) ORDER BY at, id",
                            $crate::messaging_impl::placeholders(2, chunk.len())
                        );
                        let mut query = sqlx::query_as::<_, ComplianceRow>(&sql).bind(account.to_string());
                        for phone in chunk {
                            query = query.bind(phone.as_str());
                        }
                        for row in query.fetch_all(&self.pool).await.map_err(db_err)? {
                            let event = row.into_record()?;
                            events.entry(event.phone.clone()).or_default().push(event);
                        }
                    }
                    Ok(events
                        .into_iter()
                        .map(|(phone, list)| (phone, leadline_store::ContactCompliance::from_events(&list)))
                        .collect())
                }
            }

            #[async_trait]
            impl leadline_store::SettingsStore for $store {
                async fn get_setting(&self, account: AccountId, key: &str) -> StoreResult<Option<serde_json::Value>> {
                    let row: Option<(String,)> =
                        sqlx::query_as("SELECT value FROM account_settings WHERE account_id = $1 AND key = $2")
                            .bind(account.to_string())
                            .bind(key)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(db_err)?;
                    row.map(|(text,)| {
                        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}")))
                    })
                    .transpose()
                }

                async fn put_setting(&self, account: AccountId, key: &str, value: serde_json::Value, audit: NewAudit) -> StoreResult<()> {
                    self.put_setting_if(account, key, value, audit, None).await.map(|_| ())
                }

                async fn put_setting_if(
                    &self,
                    account: AccountId,
                    key: &str,
                    value: serde_json::Value,
                    audit: NewAudit,
                    expected: Option<i64>,
                ) -> StoreResult<leadline_store::VersionedPut> {
                    let mut tx = self.begin_audited(account).await?;
                    // The account's write lock is held from here to the commit, so neither the
                    // check nor the next number can race another writer.
                    let (current,): (i64,) = sqlx::query_as(
                        "SELECT COALESCE(MAX(version), 0) FROM setting_versions WHERE account_id = $1 AND key = $2",
                    )
                    .bind(account.to_string())
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if expected.is_some_and(|e| e != current) {
                        return Ok(leadline_store::VersionedPut::Stale { current });
                    }
                    sqlx::query(
                        "INSERT INTO account_settings (account_id, key, value, updated_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (account_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                    )
                    .bind(account.to_string())
                    .bind(key)
                    .bind(json_text(&value)?)
                    .bind(now_us())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    sqlx::query(
                        "INSERT INTO setting_versions (account_id, key, version, value, actor, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(account.to_string())
                    .bind(key)
                    .bind(current + 1)
                    .bind(json_text(&value)?)
                    .bind(&audit.actor)
                    .bind(now_us())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    Self::append_audit_in(&mut tx, &audit).await?;
                    Self::commit(tx).await?;
                    Ok(leadline_store::VersionedPut::Saved(current + 1))
                }

                async fn setting_versions(&self, account: AccountId, key: &str, limit: u32) -> StoreResult<Vec<leadline_store::SettingVersion>> {
                    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                        "SELECT version, actor, created_at FROM setting_versions \
                         WHERE account_id = $1 AND key = $2 ORDER BY version DESC LIMIT $3",
                    )
                    .bind(account.to_string())
                    .bind(key)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                    rows.into_iter()
                        .map(|(version, actor, created_at)| {
                            Ok(leadline_store::SettingVersion {
                                account_id: account,
                                key: key.to_owned(),
                                version,
                                actor,
                                created_at: ts(created_at, "setting_versions.created_at")?,
                                value: None,
                            })
                        })
                        .collect()
                }

                async fn setting_version(&self, account: AccountId, key: &str, version: i64) -> StoreResult<Option<leadline_store::SettingVersion>> {
                    let row: Option<(String, String, i64)> = sqlx::query_as(
                        "SELECT value, actor, created_at FROM setting_versions \
                         WHERE account_id = $1 AND key = $2 AND version = $3",
                    )
                    .bind(account.to_string())
                    .bind(key)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                    row.map(|(text, actor, created_at)| {
                        let value = serde_json::from_str(&text)
                            .map_err(|e| StoreError::Corrupt(format!("setting {key} version {version}: {e}")))?;
                        Ok(leadline_store::SettingVersion {
                            account_id: account,
                            key: key.to_owned(),
                            version,
                            actor,
                            created_at: ts(created_at, "setting_versions.created_at")?,
                            value: Some(value),
                        })
                    })
                    .transpose()
                }
            }

            #[async_trait]
            impl HealthStore for $store {
                async fn ready(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
                    let applied = self.applied_migrations().await?;
                    match Self::migrator().iter().find(|m| !applied.contains(&m.version)) {
                        Some(missing) => Err(StoreError::Backend(format!(
                            "migration {} {} is not applied",
                            missing.version, missing.description
                        ))),
                        None => Ok(()),
                    }
                }

                fn backend(&self) -> &'static str {
                    Self::BACKEND
                }
            }
        };

        $crate::messaging_impl::impl_messaging!($store, $db);
    };
}

pub(crate) use impl_store;
