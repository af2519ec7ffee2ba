-- Per ingest run: documents, pages, OCR pages, chunks and quarantined items, and quarantine by reason.
CREATE OR REPLACE VIEW ingest_health AS
SELECT r.run_id, r.started_at, r.source_root, r.collection, r.status,
       r.documents_seen, r.documents_changed, r.documents_deleted, r.documents_failed,
       r.pages, r.pages_ocr, r.chunks_written, r.chunks_deleted, r.quarantined, r.seconds,
       q.stage, q.reason_kind, coalesce(q.items, 0) AS quarantined_items
FROM ingest_runs r
LEFT JOIN (
    SELECT run_id, stage, split_part(reason, ':', 1) AS reason_kind, count(*) AS items
    FROM quarantine GROUP BY ALL
) q USING (run_id);
