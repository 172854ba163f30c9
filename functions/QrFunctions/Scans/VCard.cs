using System.Text;
using System.Text.Json.Nodes;

namespace QrFunctions.Scans;

/// <summary>A VCARD code as an RFC 6350 vCard 4.0: text values escaped (\ , ; newline), CRLF lines folded at 75 octets.</summary>
public static class VCard
{
    public const string ContentType = "text/vcard; charset=utf-8";

    public static string Build(JsonObject qr)
    {
        string F(string name) => QrContent.Text(qr, name, 1024);
        var first = F("firstName");
        var last = F("lastName");
        var company = F("company");
        var formatted = $"{first} {last}".Trim();
        if (formatted.Length == 0) formatted = company.Length > 0 ? company : QrContent.Text(qr, "name", 256);

        var lines = new List<string>
        {
            "BEGIN:VCARD",
            "VERSION:4.0",
            "FN:" + Escape(formatted),
            $"N:{Escape(last)};{Escape(first)};;;",
        };
        void Add(string property, string value)
        {
            if (value.Length > 0) lines.Add(property + ":" + Escape(value));
        }
        Add("ORG", company);
        Add("TITLE", F("designation"));
        Add("EMAIL", F("email"));
        Add("TEL;TYPE=cell", F("mobile"));
        Add("TEL;TYPE=voice", F("landline"));
        Add("TEL;TYPE=fax", F("fax"));
        if (QrContent.HttpUrl(F("website")) is { } website) lines.Add("URL:" + website);
        var street = F("street");
        if (street.Length == 0) street = F("address");
        var adr = new[] { street, F("city"), F("state"), F("postalCode"), F("country") };
        if (adr.Any(p => p.Length > 0))
            lines.Add("ADR;TYPE=work:;;" + string.Join(";", adr.Select(Escape)));
        Add("NOTE", F("bio"));
        lines.Add("END:VCARD");

        var text = new StringBuilder();
        foreach (var line in lines) Fold(text, line);
        return text.ToString();
    }

    /// <summary>RFC 6350 §3.4: backslash, comma, semicolon and newlines are escaped in text values.</summary>
    public static string Escape(string value)
    {
        var s = new StringBuilder(value.Length + 8);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '\\': s.Append("\\\\"); break;
                case ',': s.Append("\\,"); break;
                case ';': s.Append("\\;"); break;
                case '\r':
                    if (i + 1 < value.Length && value[i + 1] == '\n') i++;
                    s.Append("\\n");
                    break;
                case '\n': s.Append("\\n"); break;
                default:
                    if (!char.IsControl(c)) s.Append(c); // other control characters have no place in a content line
                    break;
            }
        }
        return s.ToString();
    }

    /// <summary>RFC 6350 §3.2: lines longer than 75 octets continue on the next line after CRLF + one space, never inside a UTF-8 sequence.</summary>
    private static void Fold(StringBuilder output, string line)
    {
        var octets = 0;
        var limit = 75;
        for (var i = 0; i < line.Length; i++)
        {
            var width = char.IsHighSurrogate(line[i]) && i + 1 < line.Length ? 2 : 1;
            var bytes = Encoding.UTF8.GetByteCount(line.AsSpan(i, width));
            if (octets + bytes > limit)
            {
                output.Append("\r\n ");
                octets = 1;
            }
            output.Append(line, i, width);
            octets += bytes;
            i += width - 1;
        }
        output.Append("\r\n");
    }
}
