-- One consent write in plain SQL, the shape of PUT /v1/consents/{subject}/{purpose} in one
-- transaction: read the current state, insert the record, upsert the state row, insert the
-- audit entry (leaf_index NULL: the sequencer places it). Run by bench/audit.py with
-- `pgbench -M prepared -D subjects=N -D source=api:... -D actor=client:...`; bench_subject holds
-- the seeded subjects as 1..N. (pgbench takes ":name" for a variable even inside quotes, hence
-- the values with a colon in variables.)
\set n random(1, :subjects)
\set p random(1, 2)
\set d random(1, 2)
BEGIN;
SELECT st.subject, st.purpose, st.purpose_version, (ARRAY['granted', 'withdrawn'])[:d] AS decision
  FROM bench_subject s JOIN consent_state st ON st.subject = s.subject
  WHERE s.n = :n AND st.purpose = (ARRAY['personalization', 'partner_sharing'])[:p] \gset
INSERT INTO consent_record (subject, purpose, purpose_version, decision, pending, source,
    collected_at, recorded_at, evidence)
  VALUES (:subject, :purpose, :purpose_version, :decision, false, :source, now(), now(), '{}')
  RETURNING id AS record_id \gset
INSERT INTO consent_state (subject, purpose, status, purpose_version, decided_at, source,
    record_id)
  VALUES (:subject, :purpose, :decision, :purpose_version, now(), :source, :record_id)
  ON CONFLICT (subject, purpose) DO UPDATE SET status = excluded.status,
    purpose_version = excluded.purpose_version, decided_at = excluded.decided_at,
    expires_at = excluded.expires_at, source = excluded.source, record_id = excluded.record_id;
INSERT INTO audit_entry (at, action, actor, subject, details)
  VALUES (now(), 'consent.recorded', :actor, 'user:' || :subject::text,
    json_build_object('purpose', :purpose::text, 'version', :purpose_version::text,
      'decision', :decision::text, 'status', :decision::text, 'source', :source::text,
      'record_id', :record_id::bigint));
END;
