-- The `compromised` outcome (a page that answered but carries an injection, a defacement or a
-- listed wording error) gets its slot in the rollup counts; older rows read 0 for it.
UPDATE rollup_outcomes SET names = array_append(names, 'compromised')
WHERE NOT 'compromised' = ANY (names);
