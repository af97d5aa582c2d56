-- A new visitor's first banner decision in plain SQL: the statements the server sends for
-- PUT /v1/consents/{anonymous id}/{purpose} (read from PostgreSQL's statement log), in one
-- transaction: the anonymous subject upserted at its first use, the record, the state upserted
-- (only over an older record), the audit entry (the sequencer places it); then the answer,
-- read outside the transaction as the server does. Run by bench/linking.py with
-- `pgbench -M prepared -D source=api:<client> -D actor=client:<client> -D client=<client>`
-- (pgbench takes ":name" for a variable even inside quotes, hence the values with a colon in
-- variables). Subjects are "a:" and 22 characters, as the server's. pgbench has no string
-- variables, so the first SELECT makes them: one round trip more than the server sends, which
-- lowers this floor a little (in the server's favour).
\set r random(1, 9000000000000000)
\set p random(1, 2)
\set d random(1, 2)
SELECT 'a:' || lpad(:r::text, 22, '0') AS subject,
  (ARRAY['personalization', 'partner_sharing'])[:p] AS purpose,
  (ARRAY['granted', 'denied'])[:d] AS decision,
  CASE WHEN :d = 1 THEN now() + (ARRAY[730, 365])[:p] * interval '1 day' END AS expires \gset
BEGIN;
INSERT INTO anonymous_subject (key, client_id, created_at, expires_at, shared)
  VALUES (:subject, :client, now(), now() + interval '395 days', false)
  ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
  WHERE anonymous_subject.expires_at < excluded.expires_at;
INSERT INTO consent_record (subject, purpose, purpose_version, decision, pending, source,
    collected_at, recorded_at, expires_at, language, text_hash, ip_hash, user_agent, evidence)
  VALUES (:subject, :purpose, '1.0', :decision, false, :source, now(), now(),
    NULLIF(:expires, '')::timestamptz, NULL, NULL, NULL, NULL, '{}')
  RETURNING id AS record_id \gset
INSERT INTO consent_state (subject, purpose, status, purpose_version, decided_at, expires_at,
    source, record_id)
  VALUES (:subject, :purpose, :decision, '1.0', now(), NULLIF(:expires, '')::timestamptz,
    :source, :record_id)
  ON CONFLICT (subject, purpose) DO UPDATE SET status = excluded.status,
    purpose_version = excluded.purpose_version, decided_at = excluded.decided_at,
    expires_at = excluded.expires_at, source = excluded.source, record_id = excluded.record_id
  WHERE consent_state.record_id < excluded.record_id;
INSERT INTO audit_entry (at, action, actor, subject, details)
  VALUES (now(), 'consent.recorded', :actor, 'visitor:' || :subject,
    json_build_object('decision', :decision::text, 'purpose', :purpose::text,
      'record_id', :record_id::bigint, 'source', :source::text, 'status', :decision::text,
      'version', '1.0'))
  RETURNING id;
END;
SELECT s.subject, s.purpose, s.status, s.purpose_version, s.decided_at, s.expires_at,
  s.record_id FROM unnest(ARRAY[:subject]::text[]) AS w(k)
  JOIN consent_state s ON s.subject = w.k AND s.purpose = :purpose;
