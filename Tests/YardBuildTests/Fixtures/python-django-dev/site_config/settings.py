WSGI_APPLICATION = "site_config.wsgi.application"
