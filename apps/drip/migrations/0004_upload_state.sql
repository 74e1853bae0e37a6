-- An upload's row goes in before its body is read (so its name and its quota are settled
-- before any byte, and the spool janitor sees it): upload_state says where it is.
-- 'receiving': its body is arriving and its client has had no answer (a node that stops
-- with it drops it); 'queued': answered 202, the upload pipeline has it (a node that stops
-- with it takes it up again); 'stored'. A receiving row's file_size is the room it has
-- reserved, so the sum of a user's file sizes is what counts against the quota.
-- users.quota_checked_at is written by each reservation, first in its transaction: that
-- locks the user's row, so two reservations for one user (on any node of one database)
-- take turns.
ALTER TABLE media ADD COLUMN upload_state TEXT NOT NULL DEFAULT 'stored';
UPDATE media SET upload_state = 'queued' WHERE uploaded_at IS NULL;
ALTER TABLE users ADD COLUMN quota_checked_at BIGINT;
