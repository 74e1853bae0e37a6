-- An upload under way is leased by the node that takes it (media.pipeline_node): the node
-- moves lease_until (ms since the epoch) on while it runs, and any node's janitor removes a
-- row whose lease has run out (its node was killed or cut off), with its attempts' objects,
-- so its name and its quota are free again. A stored row holds no lease (NULL); so does a
-- row left under way by a Drip older than this migration, until its node takes it up again.
ALTER TABLE media ADD COLUMN lease_until BIGINT;
CREATE INDEX media_lease ON media (lease_until);
