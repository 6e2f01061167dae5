-- The demo domain: a small UK teacher training service. :scale multiplies the row counts.
CREATE TYPE provider_kind AS ENUM ('accredited', 'training');
CREATE DOMAIN ukprn AS text CHECK (VALUE ~ '^1[0-9]{7}$');

CREATE TABLE providers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ukprn       ukprn NOT NULL UNIQUE,
    name        text NOT NULL,
    kind        provider_kind NOT NULL,
    postcode    text,
    email       text
);

CREATE TABLE users (
    id          serial PRIMARY KEY,
    email       text NOT NULL,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE partnerships (
    accredited_provider_id bigint NOT NULL REFERENCES providers (id),
    training_provider_id   bigint NOT NULL REFERENCES providers (id),
    academic_year          int NOT NULL CHECK (academic_year BETWEEN 2019 AND 2026),
    PRIMARY KEY (accredited_provider_id, training_provider_id, academic_year)
);

CREATE TABLE courses (
    id            serial PRIMARY KEY,
    provider_id   bigint NOT NULL REFERENCES providers (id),
    code          text NOT NULL,
    title         text NOT NULL,
    fee           numeric(10, 2),
    UNIQUE (provider_id, code)
);

CREATE TABLE trainees (
    id                  bigserial PRIMARY KEY,
    course_id           int NOT NULL REFERENCES courses (id),
    first_name          text NOT NULL,
    last_name           text NOT NULL,
    date_of_birth       date,
    email               text,
    ni_number           text CHECK (ni_number ~ '^[A-CEGHJ-PR-TW-Z]{2}[0-9]{6}[A-D]$'),
    trn                 char(7),
    postcode            text,
    notes               text,
    full_name           text GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
    created_by_email    text
);

CREATE TABLE audit_log (
    id          bigserial,
    logged_at   timestamptz NOT NULL,
    actor_email text,
    changes     jsonb,
    comment     text,
    PRIMARY KEY (id, logged_at)
) PARTITION BY RANGE (logged_at);
CREATE TABLE audit_log_2024 PARTITION OF audit_log FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE audit_log_2025 PARTITION OF audit_log FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE audit_log_other PARTITION OF audit_log DEFAULT;

CREATE MATERIALIZED VIEW trainees_per_provider AS
    SELECT c.provider_id, count(*) AS trainees FROM trainees t JOIN courses c ON c.id = t.course_id
    GROUP BY c.provider_id;
CREATE UNIQUE INDEX ON trainees_per_provider (provider_id);

INSERT INTO providers (ukprn, name, kind, postcode, email)
SELECT (10000000 + g)::text, 'Provider ' || g, CASE WHEN g % 4 = 0 THEN 'accredited' ELSE 'training' END::provider_kind,
       'SW1A ' || (g % 9) || 'AA', 'contact' || g || '@provider' || g || '.example.org'
FROM generate_series(1, 20 * :scale) g;

INSERT INTO users (email, first_name, last_name, created_at)
SELECT 'staff' || g || '@education.example.gov.uk', 'Staff' || g, 'Member' || g,
       timestamptz '2020-01-01 09:00+00' + g * interval '7 hours'
FROM generate_series(1, 10 * :scale) g;

INSERT INTO partnerships
SELECT a.id, t.id, y
FROM providers a JOIN providers t ON t.kind = 'training' AND t.id BETWEEN a.id - 6 AND a.id + 6
CROSS JOIN generate_series(2019, 2026) y
WHERE a.kind = 'accredited' AND (a.id + t.id + y) % 3 = 0;

INSERT INTO courses (provider_id, code, title, fee)
SELECT p.id, 'C' || lpad(g::text, 3, '0'), 'Course ' || g || ' of ' || p.name, 9250 + g
FROM providers p CROSS JOIN generate_series(1, 3) g;

INSERT INTO trainees (course_id, first_name, last_name, date_of_birth, email, ni_number, trn,
                      postcode, notes, created_by_email)
SELECT (g % (SELECT count(*) FROM courses)) + 1, 'First' || g, 'Last' || g,
       date '1980-01-01' + (g * 37) % 9000,
       'trainee' || g || '@mail.example.com',
       'AB' || lpad((g % 1000000)::text, 6, '0') || 'C',
       lpad((1000000 + g)::text, 7, '0'),
       'M' || (g % 60) || ' ' || (g % 9) || 'QD',
       CASE WHEN g % 3 = 0 THEN 'Called ' || 'First' || g || ' on 07700 900' || lpad((g % 1000)::text, 3, '0') END,
       'staff' || (g % (10 * :scale) + 1) || '@education.example.gov.uk'
FROM generate_series(1, 200 * :scale) g;

INSERT INTO audit_log (logged_at, actor_email, changes, comment)
SELECT timestamptz '2023-06-01 00:00+00' + ((g * 997) % (3 * 365 * 24)) * interval '1 hour',
       'staff' || (g % (10 * :scale) + 1) || '@education.example.gov.uk',
       jsonb_build_object('table', 'trainees', 'id', g % (200 * :scale) + 1, 'field', 'email'),
       'updated trainee ' || (g % (200 * :scale) + 1)
FROM generate_series(1, 500 * :scale) g;

REFRESH MATERIALIZED VIEW trainees_per_provider;
ANALYZE;
