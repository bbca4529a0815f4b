def test_settings_load():
    from django.conf import settings

    assert settings.ODOO_DB == "odoo18"
