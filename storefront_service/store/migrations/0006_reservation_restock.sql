-- A paid order cancelled after its reservation was committed: the showcase puts the units
-- back on the shelf (POST /internal/reservations/{order_id}/restock) and the reservation
-- ends as 'restocked'. It keeps its committed_at (it was committed) and gains restocked_at.
-- The constraints below were unnamed in 0005; these are PostgreSQL's generated names.

ALTER TABLE reservations ADD COLUMN restocked_at timestamptz;

ALTER TABLE reservations DROP CONSTRAINT reservations_status_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_status_check
    CHECK (status IN ('active', 'committed', 'released', 'restocked'));

-- was: (status = 'committed') = (committed_at IS NOT NULL)
ALTER TABLE reservations DROP CONSTRAINT reservations_check;
ALTER TABLE reservations ADD CONSTRAINT reservations_committed_check
    CHECK ((status IN ('committed', 'restocked')) = (committed_at IS NOT NULL));

ALTER TABLE reservations ADD CONSTRAINT reservations_restocked_check
    CHECK ((status = 'restocked') = (restocked_at IS NOT NULL));
