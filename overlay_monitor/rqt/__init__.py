"""The rqt panel: a live, sortable table of overlay peers (``peer_table_widget``) and its rqt
plugin (``plugin``, registered through plugin.xml)."""
