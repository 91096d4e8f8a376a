import Mustache

/// The pages' Mustache templates. `{{x}}` is HTML-escaped; only `layout`'s `{{{body}}}`
/// (another template's output) is inserted as it is. No inline script or style anywhere:
/// the Content-Security-Policy allows neither.
enum DashboardTemplates {
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        for (name, text) in [("layout", layout), ("login", login), ("projects", projects), ("canvas", canvas), ("service", service)] {
            // The templates are constants of this file: one that does not parse is a bug the unit tests catch.
            try! library.register(text, named: name)
        }
        return library
    }()

    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Switchyard</title>
        {{#csrf}}<meta name="csrf-token" content="{{csrf}}">{{/csrf}}
        <link rel="stylesheet" href="/assets/dashboard.css">
        <script src="/assets/dashboard.js" defer></script>
        </head>
        <body>
        <header class="top">
        <nav aria-label="Main"><a href="/">Projects</a></nav>
        {{#csrf}}<form method="post" action="/logout" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="sign-out">Sign out</button></form>{{/csrf}}
        </header>
        <main id="main">
        {{#error}}<p class="error" role="alert" id="error">{{error}}</p>{{/error}}
        {{#notice}}<p class="notice" role="status" id="notice">{{notice}}</p>{{/notice}}
        {{{body}}}
        </main>
        </body>
        </html>
        """

    static let login = """
        <h1>Sign in</h1>
        <form method="post" action="/login">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" required>
        <button type="submit" id="sign-in">Sign in</button>
        </form>
        <p class="muted">The admin token is in the server's data folder, in <code>admin.token</code>.</p>
        """

    static let projects = """
        <h1>Projects</h1>
        <table>
        <thead><tr><th scope="col">Project</th><th scope="col">Environments</th><th scope="col">Services</th></tr></thead>
        <tbody>
        {{#projects}}<tr><td><a href="{{href}}">{{name}}</a></td><td>{{#environments}}<a href="{{href}}">{{name}}</a> {{/environments}}</td><td>{{serviceCount}}</td></tr>{{/projects}}
        {{^projects}}<tr><td colspan="3">No projects yet.</td></tr>{{/projects}}
        </tbody>
        </table>
        <h2>New project</h2>
        <form method="post" action="/projects">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="project-name">Name</label>
        <input id="project-name" name="name" required>
        <button type="submit" id="create-project">Create project</button>
        </form>
        """

    static let canvas = """
        <h1>{{project}} <span class="muted">/ {{environment}}</span></h1>
        <nav aria-label="Environments">Environment: {{#environments}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{name}}</a> {{/environments}}</nav>
        <div class="canvas" id="canvas" data-status-url="{{statusURL}}" data-layout-url="{{layoutURL}}">
        <svg width="{{width}}" height="{{height}}" aria-hidden="true" focusable="false">{{#lines}}<line class="ref-line" data-from="{{from}}" data-to="{{to}}" x1="{{x1}}" y1="{{y1}}" x2="{{x2}}" y2="{{y2}}"></line>{{/lines}}</svg>
        <ul class="cards" aria-label="Services">
        {{#cards}}<li class="card" data-service="{{name}}" data-x="{{x}}" data-y="{{y}}" tabindex="0" aria-label="{{name}}: arrow keys move the card">
        <h2><span class="kind" title="{{kind}}">{{icon}}</span> <a href="{{href}}">{{name}}</a></h2>
        <p>Status: <span class="status status-{{status}}">{{status}}</span></p>
        <p>Replicas: <span class="replicas">{{replicas}}</span></p>
        {{#domainURL}}<p><a href="{{domainURL}}" class="domain">{{domainName}}</a></p>{{/domainURL}}
        </li>
        {{/cards}}
        </ul>
        </div>
        {{#hasCards}}<p class="muted">Drag a card, or focus it and use the arrow keys, to arrange the canvas; where you put it is saved.</p>{{/hasCards}}
        {{^cards}}<p>No services yet: deploy one with <code>yard up</code>, or add one below.</p>{{/cards}}
        <h2>New service</h2>
        <form method="post" action="{{base}}/services">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="service-name">Name</label>
        <input id="service-name" name="name" required>
        <button type="submit" id="create-service">Create service</button>
        </form>
        <h2>Add a database</h2>
        <form method="post" action="{{base}}/databases">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="database-kind">Database</label>
        <select id="database-kind" name="database"><option value="postgres">PostgreSQL</option><option value="redis">Redis</option><option value="mysql">MySQL</option></select>
        <button type="submit" id="add-database">Add database</button>
        </form>
        """

    static let service = """
        <p><a href="{{canvasHref}}">{{project}} / {{environment}}</a></p>
        <h1><span class="kind" title="{{kind}}">{{icon}}</span> {{service}}</h1>
        <h2>Actions</h2>
        <form method="post" action="{{base}}/redeploy" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><input type="checkbox" id="redeploy-no-cache" name="noCache" value="on"><label for="redeploy-no-cache">Rebuild without the cache</label> <button type="submit" id="redeploy">Redeploy</button></form>
        <form method="post" action="{{base}}/restart" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="restart">Restart</button></form>
        <h2>Deployments</h2>
        <table id="deployments">
        <thead><tr><th scope="col">Status</th><th scope="col">Trigger</th><th scope="col">Commit</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Reason</th><th scope="col">Actions</th></tr></thead>
        <tbody>
        {{#deployments}}<tr data-deployment="{{id}}"><td><span class="status status-{{status}}">{{status}}</span></td><td>{{trigger}}{{#rollbackOf}} (rollback){{/rollbackOf}}</td><td>{{commit}}</td><td><time datetime="{{created}}">{{created}}</time></td><td>{{duration}}{{#phases}}<br><span class="muted phases">{{phases}}</span>{{/phases}}</td><td>{{reason}}</td>
        <td>{{#canCancel}}<form method="post" action="{{base}}/deployments/{{id}}/cancel" class="inline" data-confirm="Cancel this deployment?"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger cancel" aria-label="Cancel deployment {{shortID}}">Cancel</button></form>{{/canCancel}}
        {{#canRollback}}<form method="post" action="{{base}}/deployments/{{id}}/rollback" class="inline" data-confirm="Roll back to this deployment?"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="rollback" aria-label="Roll back to deployment {{shortID}}">Rollback</button></form>{{/canRollback}}
        {{#canRemove}}<form method="post" action="{{base}}/deployments/{{id}}/remove" class="inline" data-confirm="Remove this deployment?"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" class="danger remove" aria-label="Remove deployment {{shortID}}">Remove</button></form>{{/canRemove}}</td></tr>
        {{/deployments}}
        {{^deployments}}<tr><td colspan="7">No deployments yet.</td></tr>{{/deployments}}
        </tbody>
        </table>
        <h2 id="metrics-heading">Metrics <span class="muted">(last hour)</span></h2>
        <div id="metrics">{{#charts}}<figure class="chart" data-metric="{{id}}" data-points="{{count}}"><figcaption>{{title}}: {{latest}} <span class="muted">(peak {{peak}})</span></figcaption><svg viewBox="0 0 240 48" width="240" height="48" role="img" aria-label="{{title}} over the last hour, now {{latest}}, peak {{peak}}"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{{points}}"/></svg></figure>{{/charts}}{{^charts}}<p>No metrics yet: they are collected while replicas run.</p>{{/charts}}</div>
        {{#isDatabase}}<h2 id="backups-heading">Backups</h2>
        <form method="post" action="{{base}}/backups" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="create-backup">Create backup</button></form>
        <table id="backups">
        <thead><tr><th scope="col">Status</th><th scope="col">Trigger</th><th scope="col">Started</th><th scope="col">Size</th><th scope="col">Reason</th><th scope="col">Restore</th></tr></thead>
        <tbody>
        {{#backups}}<tr data-backup="{{id}}"><td><span class="status status-{{status}}">{{status}}</span></td><td>{{trigger}}</td><td><time datetime="{{started}}">{{started}}</time></td><td>{{size}}</td><td>{{reason}}</td>
        <td>{{#canRestore}}<form method="post" action="{{base}}/backups/restore" class="inline" autocomplete="off"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="backup" value="{{id}}"><label for="restore-{{id}}">Type {{service}} to restore {{shortID}} over its data</label> <input id="restore-{{id}}" name="confirm" required> <button type="submit" class="danger restore">Restore</button></form>{{/canRestore}}</td></tr>
        {{/backups}}
        {{^backups}}<tr><td colspan="6">No backups yet.</td></tr>{{/backups}}
        </tbody>
        </table>{{/isDatabase}}
        <h2 id="logs-heading">Logs</h2>
        <nav aria-label="Log kind"><a href="{{base}}?logs=build#logs-heading">Build logs</a> <a href="{{base}}?logs=deploy#logs-heading">Deploy logs</a> <a href="{{base}}?logs=http#logs-heading">HTTP logs</a></nav>
        <form method="get" action="{{base}}" role="search"><input type="hidden" name="logs" value="{{logKindValue}}"><label for="log-search">Search the log</label> <input id="log-search" name="q" value="{{logSearch}}" placeholder="error OR @level:error"> <button type="submit" id="log-search-button">Search</button></form>
        {{#logURL}}<pre class="logs" id="logs" role="log" data-log-url="{{logURL}}" data-log-kind="{{logKind}}" tabindex="0" aria-label="{{logKind}} log of deployment {{logDeployment}}">Loading the {{logKind}} log…</pre>{{/logURL}}
        <h2>Variables</h2>
        <table id="variables">
        <thead><tr><th scope="col">Name</th><th scope="col">Value</th><th scope="col">Actions</th></tr></thead>
        <tbody>
        {{#variables}}<tr data-variable="{{key}}"><th scope="row">{{key}}</th><td>{{#hidden}}<span class="muted">{{hidden}}</span>{{/hidden}}{{^hidden}}<code>{{value}}</code>{{/hidden}}</td>
        <td><form method="post" action="{{base}}/variables/delete" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="key" value="{{key}}"><button type="submit" class="danger" aria-label="Delete {{key}}">Delete</button></form></td></tr>
        {{/variables}}
        {{^variables}}<tr><td colspan="3">No variables.</td></tr>{{/variables}}
        </tbody>
        </table>
        <form method="post" action="{{base}}/variables" autocomplete="off">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="variable-key">Name</label><input id="variable-key" name="key" required>
        <label for="variable-value">Value</label><input id="variable-value" name="value">
        <input type="checkbox" id="variable-sealed" name="sealed" value="on"><label for="variable-sealed">Sealed (write-only)</label>
        <button type="submit" id="set-variable">Set variable</button>
        </form>
        <h2>Domains</h2>
        <ul id="domains">{{#domains}}<li><a href="{{url}}">{{hostname}}{{path}}</a>{{#generated}} <span class="muted">(generated)</span>{{/generated}}</li>{{/domains}}{{^domains}}<li>No domains.</li>{{/domains}}</ul>
        <form method="post" action="{{base}}/domains">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="domain-hostname">Hostname</label><input id="domain-hostname" name="hostname" required>
        <button type="submit" id="add-domain">Add domain</button>
        </form>
        <h2>Settings</h2>
        <dl id="settings">{{#settings}}<dt>{{name}}</dt><dd>{{value}}</dd>{{/settings}}</dl>
        """
}
