-- The token that made a token through the API, if one did: when that token
-- leaks, its owner sees what it made (GitHub's and GitLab's "created by").
ALTER TABLE tokens ADD COLUMN created_by_token BIGINT;
CREATE INDEX tokens_created_by_token ON tokens(created_by_token) WHERE created_by_token IS NOT NULL;

-- Deliveries go one at a time per destination (a lane each): the claim
-- looks for a destination's delivery in flight.
CREATE INDEX deliveries_lane ON deliveries(channel, target) WHERE state = 'pending';
