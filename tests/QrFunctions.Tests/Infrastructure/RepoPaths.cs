namespace QrFunctions.Tests.Infrastructure;

/// <summary>Finds the repository (the folder with QrFunctions.sln) from the test's output folder.</summary>
public static class RepoPaths
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QrFunctions.sln"))) return dir.FullName;
        throw new InvalidOperationException("QrFunctions.sln not found above " + AppContext.BaseDirectory);
    }
}
