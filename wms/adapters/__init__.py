"""WMS kinds: kind -> (label, dotted path of the adapter class).

Third-party packages add kinds through the `cartrover.wms` entry-point group.
"""

from cartrover.adapters import Registry

WMS_KINDS = Registry(
    {
        "dummy": ("Sandbox warehouse", "wms.adapters.dummy.adapter.DummyWmsAdapter"),
        "api": ("API (the WMS pulls orders)", "wms.adapters.api.adapter.ApiWmsAdapter"),
        "csv_file": (
            "CSV files (SFTP, FTP, email, folder)",
            "wms.adapters.csv_file.adapter.CsvFileWmsAdapter",
        ),
        "extensiv": (
            "Extensiv 3PL Warehouse Manager",
            "wms.adapters.extensiv.adapter.ExtensivAdapter",
        ),
    },
    entry_point_group="cartrover.wms",
)
