"""How a tenant's queries are answered from its index: retrieval strategies (what a row
contributes, a lexical channel, cross-lingual pooling, encoder ensembles), their fusion, the
calibrated relevance score, and the lexical baseline that proves an evaluation set is hard."""
