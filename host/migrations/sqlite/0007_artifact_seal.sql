-- Precompiled code is sealed with the host's artifact key (HMAC-SHA256): a host loads only
-- artifacts whose seal verifies. Artifacts from before sealing cannot be trusted: dropped, to be
-- compiled again from their components on first use.
DELETE FROM BH_PLUGIN_ARTIFACT;
ALTER TABLE BH_PLUGIN_ARTIFACT ADD COLUMN SEAL VARCHAR(64) NOT NULL DEFAULT '';
