"""Infrastructure as code: planned configuration read into the same inventory as a live scan.

A reader turns its input (a Terraform plan's JSON, a directory of HCL) into `IacResource`s, each with the
values the configuration fixes and, for values not known until apply, the reference they come from
(`Symbol`). `azurerm.py` maps the azurerm (and azuread) resources among them to the inventory's records, so
that the same controls judge planned configuration with the same ids.
"""
