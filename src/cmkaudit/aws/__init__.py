"""Databricks on AWS: the account API and AWS KMS, read with the official SDKs, and key policies evaluated."""
