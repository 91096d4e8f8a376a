var app = WebApplication.Create(args);
app.MapGet("/", () => "hi");
app.Run();
