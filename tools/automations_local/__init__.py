"""The local stack: the whole product on one machine, under a moto server, with no AWS account."""
