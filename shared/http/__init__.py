"""HTTP glue for the route Lambdas: the resolver and problem+json (``app``), the OpenAPI document."""
