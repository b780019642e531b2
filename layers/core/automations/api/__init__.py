"""The management API: one Powertools router per resource (``routes``), included into one resolver
(``app``); request bodies (``bodies``), the error map (``errors``), models and the OpenAPI document."""
